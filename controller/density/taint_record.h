#pragma once

// Which density taint nodeguard applied to a node, recorded on the node
// itself in the annotation nodeguard.io/density-taint and written in the same
// JSON patch as the taint (taint_patch.h), so the two never disagree:
//
//   nodeguard.io/density-taint: {"effect":"NoSchedule","key":"nodeguard.io/pod-density-exceeded",
//                                "policy":"workers","value":"workers"}
//
// Ownership is by this record, not by taint key:
// - a taint with a key nodeguard also uses that nodeguard did not record
//   applying (an administrator's `dedicated`, another tool's) is never
//   changed or removed, on any node, whatever the policies select;
// - the taint nodeguard applied is found by the record even after the
//   policy's taint.key changed, so the old key is removed, not left behind.
// Kubernetes keeps at most one taint per (key, effect) on a node, so the
// recorded taint is the node's taint with the recorded key and effect.
//
// Migration: a node tainted by a nodeguard that wrote no record carries no
// annotation. Such a taint is taken for nodeguard's when it equals exactly
// (key, value and effect) the taint of a policy that selects the node, the
// oldest first, whether that policy is live or being deleted (its finalizer
// waits for it). With the default value (the policy's name) that is
// unambiguous; with an explicit taint.value an administrator's taint equal in
// all three is taken for nodeguard's too. Once adopted, the taint is recorded
// (or removed) by the next write, like any other.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "kube/objects.h"

namespace nodeguard::density {

inline constexpr const char* kTaintRecordAnnotation = "nodeguard.io/density-taint";

// What nodeguard applied: the policy, and the taint's key, value and effect
// (timeAdded is not recorded).
struct TaintRecord {
  std::string policy;
  kube::Taint taint;
  friend bool operator==(const TaintRecord&, const TaintRecord&) = default;
};

// Compact JSON with sorted keys (so an unchanged record encodes identically
// and is not rewritten).
std::string EncodeTaintRecord(const TaintRecord& record);

// Strict: kInvalid for malformed JSON, a missing or empty policy or key, or
// an unknown effect. Unknown keys are ignored.
Result<TaintRecord> DecodeTaintRecord(std::string_view json);

// Key, value and effect equal (timeAdded ignored).
bool SameTaint(const kube::Taint& a, const kube::Taint& b);

// A policy that selects the node (live or being deleted, podDensity enabled)
// and the taint it would apply: who may own an unrecorded taint (migration).
struct LegacyCandidate {
  std::string policy;
  kube::Taint taint;
};

// nodeguard's density taint on one node, as far as the node tells.
struct OwnTaint {
  enum class Source : uint8_t {
    kNone,    // No record and no adoptable taint.
    kRecord,  // The annotation decoded.
    kLegacy,  // No annotation; an unrecorded taint equal to a candidate's (migration).
  };
  Source source = Source::kNone;
  // kRecord: the decoded record. kLegacy: the adopted taint and its policy.
  std::optional<TaintRecord> record;
  // Where the recorded taint is in node.taints, when it is there.
  std::optional<size_t> index;
  // The annotation exists (valid or not): a write must replace or remove it.
  bool annotation_present = false;
  // Set when the annotation exists but does not decode: nodeguard then knows
  // of no taint of its own on the node (and applies no migration guess).
  std::string annotation_error;

  bool on_node() const { return index.has_value(); }
  // The policy that applied the taint on the node, or "" when none is.
  std::string owner() const { return on_node() ? record->policy : std::string(); }
};

// Reads the record annotation and finds the recorded taint. Without an
// annotation, the first of `legacy` (in governing order: oldest first) whose
// exact taint the node carries is adopted.
OwnTaint FindOwnTaint(const kube::Node& node, const std::vector<LegacyCandidate>& legacy);

// Index of a taint nodeguard did not apply (not at own.index) with the key
// and effect of `taint`: Kubernetes allows one taint per key and effect, so
// while it is there nodeguard cannot add its own.
std::optional<size_t> ForeignTaintWith(const kube::Node& node, const OwnTaint& own,
                                       const kube::Taint& taint);

}  // namespace nodeguard::density
