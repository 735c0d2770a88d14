#pragma once

// In-memory fakes of the write seams (controller/writes/) and of the drain's
// I/O (remediation/drain_api.h), one per seam: each records the calls it got,
// as text a test compares, and answers from what the test set up. For tests
// of a reconciler's decisions about what to write, without an API server;
// FakeApiServer (api_server.h) stays for tests of the REST implementations
// and of whole flows. Thread-safe (a mutex per fake, `mu`).

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "remediation/drain_api.h"
#include "writes/event_reader.h"
#include "writes/event_writer.h"
#include "writes/finalizers.h"
#include "writes/node_writer.h"
#include "writes/pod_annotator.h"
#include "writes/policy_report_reader.h"
#include "writes/policy_report_writer.h"
#include "writes/written_nodes.h"

namespace nodeguard::fakes {

// Calls: "patch NAME RV BODY" (BODY: writes::EncodeNodePatch's, RV "-" when
// unconditional) and "json NAME BODY". A conditional Patch answers `nodes[NAME]`
// (the node as the server would hold it after the write, set up by the test)
// and keeps it in the view; `fail` answers the next calls first.
class FakeNodeWriter final : public writes::NodeWriter {
 public:
  Result<std::shared_ptr<const kube::Node>> Patch(const std::string& name,
                                                  const writes::NodePatch& patch,
                                                  const std::string& resource_version) override;
  Status PatchJson(const std::string& name, const std::string& json_patch) override;
  void Freshen(std::vector<std::shared_ptr<const kube::Node>>& nodes) override;

  std::vector<std::string> Calls() const;

  mutable std::mutex mu;
  std::deque<Error> fail;                                            // Guarded by mu.
  std::map<std::string, std::shared_ptr<const kube::Node>> written;  // Guarded by mu.

 private:
  std::vector<std::string> calls_;  // Guarded by mu.
  writes::WrittenNodes view_;       // Guarded by mu.
};

// Calls: "NS/NAME RV KEY=VALUE" or "NS/NAME RV KEY=<removed>".
class FakePodAnnotator final : public writes::PodAnnotator {
 public:
  Status Annotate(const std::string& namespace_, const std::string& name,
                  const std::string& resource_version, const std::string& key,
                  const std::optional<std::string>& value) override;
  std::vector<std::string> Calls() const;

  mutable std::mutex mu;
  std::deque<Error> fail;  // Guarded by mu: answers the next calls first.

 private:
  std::vector<std::string> calls_;  // Guarded by mu.
};

// Events created by name (kAlreadyExists for a name created before) and
// listed by reason (`listed`, what the server holds from earlier processes,
// plus what was created here).
class FakeEvents final : public writes::EventReader, public writes::EventWriter {
 public:
  Result<std::vector<writes::EventSummary>> ListByReason(std::string_view reason) override;
  Status Create(const kube::EventRecord& event) override;
  // "NS/NAME REASON", in creation order.
  std::vector<std::string> Calls() const;

  mutable std::mutex mu;
  std::optional<Error> list_error;                                  // Guarded by mu.
  std::map<std::string, std::vector<writes::EventSummary>> listed;  // Guarded by mu: by reason.

 private:
  std::vector<std::string> calls_;  // Guarded by mu.
  std::set<std::string> names_;     // Guarded by mu: "NS/NAME".
};

// PolicyReports served while `served`; applied and deleted in `reports`
// ((namespace, name) -> the applied JSON). Calls: "apply NS/NAME", "delete NS/NAME".
class FakePolicyReports final : public writes::PolicyReportReader,
                                public writes::PolicyReportWriter {
 public:
  Result<bool> Served() override;
  Result<std::set<std::pair<std::string, std::string>>> ListManaged() override;
  Status Apply(const std::string& namespace_, const std::string& name,
               const std::string& report) override;
  Status Delete(const std::string& namespace_, const std::string& name) override;
  std::vector<std::string> Calls() const;

  mutable std::mutex mu;
  bool served = false;                                                 // Guarded by mu.
  std::map<std::pair<std::string, std::string>, std::string> reports;  // Guarded by mu.
  std::deque<Error> fail;  // Guarded by mu: answers the next Apply/Delete first.

 private:
  std::vector<std::string> calls_;  // Guarded by mu.
};

// Calls: "POLICY RV [f1,f2]".
class FakeFinalizers final : public writes::Finalizers {
 public:
  Status Set(const std::string& policy, const std::string& resource_version,
             const std::vector<std::string>& finalizers) override;
  std::vector<std::string> Calls() const;

  mutable std::mutex mu;
  std::deque<Error> fail;  // Guarded by mu.

 private:
  std::vector<std::string> calls_;  // Guarded by mu.
};

// A node's pods as the API server lists them (`pods`), evictions answered
// from `answers` by "ns/name" (kAccepted, which removes the pod, otherwise).
// Calls: "list NODE", "evict NS/NAME".
class FakeDrainApi final : public remediation::DrainApi {
 public:
  Result<std::vector<kube::Pod>> ListPods(const std::string& node,
                                          const api::LabelSelector& selector) override;
  remediation::EvictionResult Evict(const remediation::DrainPodRef& pod,
                                    std::optional<int64_t> grace_period_seconds) override;
  Result<std::optional<remediation::ObservedPod>> GetPod(
      const remediation::DrainPodRef& pod) override;
  bool NodeReady(const std::string& node) override;
  std::vector<std::string> Calls() const;

  mutable std::mutex mu;
  std::vector<kube::Pod> pods;                                 // Guarded by mu.
  std::map<std::string, remediation::EvictionResult> answers;  // Guarded by mu.
  std::set<std::string> not_ready;                             // Guarded by mu: nodes.

 private:
  std::vector<std::string> calls_;  // Guarded by mu.
};

}  // namespace nodeguard::fakes
