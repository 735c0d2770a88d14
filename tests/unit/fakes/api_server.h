#pragma once

// The one in-memory API server of the unit tests, behind the HttpClient seam,
// so reconcilers are tested through the real RestClient and EventRecorder:
// - nodes (GET, JSON merge patches with a resourceVersion precondition),
//   mirrored into the node store the reconciler reads unless a test holds the
//   informer back to play a lagging cache;
// - pods added with AddPod (list by spec.nodeName, GET, the Eviction
//   subresource with PodDisruptionBudget refusals), mirrored into the pod store;
// - pod annotation merge patches, checked against the resourceVersion of the
//   pod in the pod store (the informer's copy, which tests may fill directly)
//   and queued in pod_updates for the test to deliver as the informer would;
// - Events (create, patch, list with a reason field selector), names unique
//   per namespace;
// - PolicyReports (discovery while reports_api, list, server-side apply, delete).
// Every request is recorded; `inject` may answer one before the fake does.

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"
#include "kube/decode.h"
#include "kube/http.h"
#include "kube/store.h"

namespace nodeguard::fakes {

// A Kubernetes Status response (message defaults to the reason), for tests'
// injectors as much as for the fake itself.
kube::HttpResponse StatusResponse(int code, const std::string& reason,
                                  const std::string& message = "",
                                  nlohmann::json details = nullptr);

class FakeApiServer final : public kube::HttpClient {
 public:
  using json = nlohmann::json;
  using Injector = std::function<std::optional<kube::HttpResponse>(const kube::HttpRequest&)>;

  FakeApiServer(kube::Store<kube::Node>& nodes, kube::Store<kube::Pod>& pods)
      : node_store_(nodes), pod_store_(pods) {}

  // ---- what tests set up
  void AddNode(const std::string& name, WallTime ready_since, const std::string& boot_id);
  void SetReady(const std::string& name, const std::string& status, const std::string& message,
                WallTime since);
  void SetBootId(const std::string& name, const std::string& boot_id);
  void SetUnschedulable(const std::string& name, bool value);
  void SetAnnotation(const std::string& name, const std::string& key, const std::string& value);
  void SetLabel(const std::string& name, const std::string& key, const std::string& value);
  // `controller_kind`: "" for a bare pod, else ReplicaSet, DaemonSet, ...
  void AddPod(const std::string& ns, const std::string& name, const std::string& node,
              const std::string& controller_kind = "ReplicaSet");
  // Evictions of this pod answer 429 from `pdb` until cleared.
  void BlockEviction(const std::string& ns_name, const std::string& pdb);
  void UnblockEviction(const std::string& ns_name);
  // Evictions set the pod's deletionTimestamp and leave it there, as behind a
  // kubelet that does not sync pods (PLEG not healthy).
  void StallDeletions(bool stall);
  // While held, writes do not reach the node store (a lagging informer).
  void HoldInformer(bool hold);
  // Every node write fails with this HTTP status (0: none).
  void FailNodeWrites(int status);

  // ---- what tests read
  json Node(const std::string& name) const;
  std::string Annotation(const std::string& name, const std::string& key) const;
  bool Unschedulable(const std::string& name) const;
  bool HasPod(const std::string& ns_name) const;
  // Requests of `method` whose path starts with `path_prefix`.
  int Count(const std::string& method, const std::string& path_prefix) const;
  // Requests whose "METHOD path?query" starts with `prefix`.
  size_t CountRequests(std::string_view prefix) const;
  std::vector<std::string> PatchBodies(const std::string& node) const;
  // Events of a reason, by "namespace/name".
  std::map<std::string, json> EventsWithReason(std::string_view reason) const;

  // ---- kube::HttpClient
  Result<kube::HttpResponse> Send(const kube::HttpRequest& request) override;
  Result<kube::HttpResponse> Stream(const kube::HttpRequest&, const kube::ChunkHandler&,
                                    const kube::CancelToken&, std::chrono::milliseconds) override;

  // Tests read and set these directly, holding mu while requests may run.
  mutable std::mutex mu;
  std::vector<std::string> requests;     // Guarded by mu: "METHOD path?query".
  std::map<std::string, json> events;    // Guarded by mu: "namespace/name" -> Event.
  std::map<std::string, json> reports;   // Guarded by mu: "namespace/name" -> PolicyReport.
  std::deque<kube::Pod> pod_updates;     // Guarded by mu: pod patches the test has not delivered.
  std::vector<std::string> pod_patches;  // Guarded by mu: "ns/name=value" or "=<removed>".
  bool reports_api = false;              // Guarded by mu: the PolicyReport API is served.
  Injector inject;                       // Guarded by mu: answers a request first when set.

 private:
  void SyncNodeLocked(const std::string& name);
  kube::HttpResponse PatchNode(const std::string& name, const std::string& body);
  kube::HttpResponse PatchPod(const std::string& ns, const std::string& name,
                              const std::string& body);
  kube::HttpResponse ListPods(const std::string& query);
  kube::HttpResponse Evict(const std::string& key);
  std::optional<kube::HttpResponse> ServeEvents(const kube::HttpRequest& request,
                                                const std::string& path,
                                                const std::vector<std::string>& seg,
                                                const std::map<std::string, std::string>& query);
  std::optional<kube::HttpResponse> ServeReports(const kube::HttpRequest& request,
                                                 const std::string& path,
                                                 const std::vector<std::string>& seg,
                                                 const std::map<std::string, std::string>& query);

  kube::Store<kube::Node>& node_store_;
  kube::Store<kube::Pod>& pod_store_;
  std::map<std::string, json> nodes_;                        // Guarded by mu.
  std::map<std::string, json> pods_;                         // Guarded by mu: by "ns/name".
  std::map<std::string, std::string> blocked_;               // Guarded by mu.
  std::map<std::string, std::vector<std::string>> patches_;  // Guarded by mu.
  bool hold_informer_ = false;                               // Guarded by mu.
  bool stall_deletions_ = false;                             // Guarded by mu.
  int fail_node_writes_ = 0;                                 // Guarded by mu.
  int64_t rv_ = 1000;                                        // Guarded by mu.
};

}  // namespace nodeguard::fakes
