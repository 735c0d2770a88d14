#pragma once

// FindingsSummary: the incremental aggregate of pod findings behind the policy
// status (counts per namespace and per resource, a bounded list of example
// pods), the hygiene metrics and the per-namespace PolicyReports.
//
// Each pod event costs O(log n) (n = flagged pods): the runtime calls Upsert
// with the new evaluation or Remove on deletion, never a rescan. Only flagged
// pods are stored. Not thread-safe: owned by the one worker that handles pod
// events for a policy.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "api/types.h"
#include "hygiene/findings.h"

namespace nodeguard::hygiene {

class FindingsSummary {
 public:
  // Counts for one namespace. missing[i] counts pods lacking kResourceBitOrder[i]
  // in at least one container.
  struct Counts {
    int64_t pods = 0;
    int64_t best_effort_pods = 0;
    std::array<int64_t, 6> missing{};
    friend bool operator==(const Counts&, const Counts&) = default;
  };

  explicit FindingsSummary(size_t max_examples = api::kMaxExamplePods)
      : max_examples_(max_examples) {}

  // Records the latest evaluation of findings.uid, replacing any earlier one.
  // A pod that is not flagged (fixed, skipped) is removed.
  // REQUIRES: findings.uid non-empty.
  void Upsert(const PodFindings& findings);
  // Forgets the pod (deleted). Unknown UIDs are ignored.
  void Remove(const std::string& uid);
  void Clear();

  const Counts& Total() const { return total_; }
  // Namespaces with at least one flagged pod, sorted by name.
  const std::map<std::string, Counts, std::less<>>& ByNamespace() const { return by_namespace_; }
  // nullptr when nothing is stored for that UID.
  const PodFindings* Find(const std::string& uid) const;
  // The first max_examples flagged pods ordered by namespace, name, UID.
  std::vector<const PodFindings*> Examples() const;
  // Every flagged pod of the namespace ordered by name, UID (for a PolicyReport).
  std::vector<const PodFindings*> PodsInNamespace(std::string_view namespace_name) const;

  // The policy's status.resourceHygiene: namespaces by flagged pods
  // (descending, ties by name) bounded to max_namespaces, and the first
  // max_examples pods (by namespace, name) with their annotation encoding.
  // O(k log k) in the k namespaces with findings: call it when writing
  // status, not per pod event. The total goes to status.podsFlagged (Total().pods).
  api::ResourceHygieneStatus ToStatus(size_t max_namespaces = api::kMaxNamespaceFindings) const;

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // namespace, name, uid
  void Account(const PodFindings& f, int64_t sign);

  size_t max_examples_;
  std::map<Key, PodFindings> pods_;            // Flagged pods in example order.
  std::unordered_map<std::string, Key> keys_;  // UID -> key in pods_.
  std::map<std::string, Counts, std::less<>> by_namespace_;
  Counts total_;
};

}  // namespace nodeguard::hygiene
