#pragma once

// A small in-memory API server behind the HttpClient seam, for the
// remediation reconciler's tests: nodes (GET, JSON merge patches with a
// resourceVersion precondition), pods (list by spec.nodeName, GET, the
// Eviction subresource with PodDisruptionBudget refusals). Writes are
// mirrored into the informer stores the reconciler reads, unless a test
// holds the informer back to play a lagging cache.

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/time.h"
#include "kube/decode.h"
#include "kube/http.h"
#include "kube/store.h"

namespace nodeguard::runtime::testing {

class FakeApiServer final : public kube::HttpClient {
 public:
  using json = nlohmann::json;

  FakeApiServer(kube::Store<kube::Node>& nodes, kube::Store<kube::Pod>& pods)
      : node_store_(nodes), pod_store_(pods) {}

  // ---- what tests set up
  void AddNode(const std::string& name, WallTime ready_since, const std::string& boot_id) {
    std::lock_guard lock(mu_);
    json n = {{"metadata",
               {{"name", name},
                {"uid", "uid-" + name},
                {"labels", {{"kubernetes.io/hostname", name}}},
                {"annotations", json::object()}}},
              {"spec", json::object()},
              {"status",
               {{"conditions",
                 json::array({ReadyCondition("True", "KubeletReady",
                                             "kubelet is posting ready status", ready_since)})},
                {"nodeInfo", {{"bootID", boot_id}}}}}};
    nodes_[name] = n;
    SyncNodeLocked(name);
  }
  void SetReady(const std::string& name, const std::string& status, const std::string& message,
                WallTime since) {
    std::lock_guard lock(mu_);
    nodes_.at(name)["status"]["conditions"] = json::array({ReadyCondition(
        status, status == "True" ? "KubeletReady" : "KubeletNotReady", message, since)});
    SyncNodeLocked(name);
  }
  void SetBootId(const std::string& name, const std::string& boot_id) {
    std::lock_guard lock(mu_);
    nodes_.at(name)["status"]["nodeInfo"]["bootID"] = boot_id;
    SyncNodeLocked(name);
  }
  void SetUnschedulable(const std::string& name, bool value) {
    std::lock_guard lock(mu_);
    nodes_.at(name)["spec"]["unschedulable"] = value;
    SyncNodeLocked(name);
  }
  void SetAnnotation(const std::string& name, const std::string& key, const std::string& value) {
    std::lock_guard lock(mu_);
    nodes_.at(name)["metadata"]["annotations"][key] = value;
    SyncNodeLocked(name);
  }
  void SetLabel(const std::string& name, const std::string& key, const std::string& value) {
    std::lock_guard lock(mu_);
    nodes_.at(name)["metadata"]["labels"][key] = value;
    SyncNodeLocked(name);
  }
  // `controller_kind`: "" for a bare pod, else ReplicaSet, DaemonSet, ...
  void AddPod(const std::string& ns, const std::string& name, const std::string& node,
              const std::string& controller_kind = "ReplicaSet") {
    std::lock_guard lock(mu_);
    json p = {{"metadata",
               {{"name", name},
                {"namespace", ns},
                {"uid", "uid-" + ns + "-" + name},
                {"resourceVersion", std::to_string(++rv_)}}},
              {"spec", {{"nodeName", node}, {"containers", json::array({{{"name", "c"}}})}}},
              {"status", {{"phase", "Running"}}}};
    if (!controller_kind.empty()) {
      p["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                                       {"kind", controller_kind},
                                                       {"name", name + "-owner"},
                                                       {"uid", "owner"},
                                                       {"controller", true}}});
    }
    pods_[ns + "/" + name] = p;
    auto decoded = kube::DecodePod(p.dump());
    if (decoded.ok()) pod_store_.Upsert(std::move(decoded).value());
  }
  // Evictions of this pod answer 429 from `pdb` until cleared.
  void BlockEviction(const std::string& ns_name, const std::string& pdb) {
    std::lock_guard lock(mu_);
    blocked_[ns_name] = pdb;
  }
  void UnblockEviction(const std::string& ns_name) {
    std::lock_guard lock(mu_);
    blocked_.erase(ns_name);
  }
  // While held, writes do not reach the node store (a lagging informer).
  // Evictions set the pod's deletionTimestamp and leave it there, as behind a
  // kubelet that does not sync pods (PLEG not healthy).
  void StallDeletions(bool stall) {
    std::lock_guard lock(mu_);
    stall_deletions_ = stall;
  }
  void HoldInformer(bool hold) {
    std::lock_guard lock(mu_);
    hold_informer_ = hold;
    if (!hold) {
      for (const auto& [name, _] : nodes_) SyncNodeLocked(name);
    }
  }
  // Every node write fails with this HTTP status (0: none).
  void FailNodeWrites(int status) {
    std::lock_guard lock(mu_);
    fail_node_writes_ = status;
  }

  // ---- what tests read
  json Node(const std::string& name) const {
    std::lock_guard lock(mu_);
    return nodes_.at(name);
  }
  std::string Annotation(const std::string& name, const std::string& key) const {
    std::lock_guard lock(mu_);
    const json& a = nodes_.at(name)["metadata"]["annotations"];
    return a.contains(key) ? a[key].get<std::string>() : "";
  }
  bool Unschedulable(const std::string& name) const {
    std::lock_guard lock(mu_);
    const json& spec = nodes_.at(name)["spec"];
    return spec.contains("unschedulable") && spec["unschedulable"].is_boolean() &&
           spec["unschedulable"].get<bool>();
  }
  bool HasPod(const std::string& ns_name) const {
    std::lock_guard lock(mu_);
    return pods_.count(ns_name) > 0;
  }
  int Count(const std::string& method, const std::string& path_prefix) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& [m, p] : requests_) {
      if (m == method && p.rfind(path_prefix, 0) == 0) ++n;
    }
    return n;
  }
  std::vector<std::string> PatchBodies(const std::string& node) const {
    std::lock_guard lock(mu_);
    auto it = patches_.find(node);
    return it == patches_.end() ? std::vector<std::string>{} : it->second;
  }

  // ---- kube::HttpClient
  Result<kube::HttpResponse> Send(const kube::HttpRequest& request) override {
    std::lock_guard lock(mu_);
    requests_.emplace_back(request.method, request.path_and_query);
    const std::string path = request.path_and_query.substr(0, request.path_and_query.find('?'));
    const std::string query = request.path_and_query.find('?') == std::string::npos
                                  ? ""
                                  : request.path_and_query.substr(request.path_and_query.find('?'));
    static const std::string kNodes = "/api/v1/nodes/";
    if (request.method == "PATCH" && path.rfind(kNodes, 0) == 0) {
      return PatchNode(path.substr(kNodes.size()), request.body);
    }
    if (request.method == "GET" && path.rfind(kNodes, 0) == 0) {
      auto it = nodes_.find(path.substr(kNodes.size()));
      if (it == nodes_.end()) return StatusResponse(404, "NotFound", "node not found");
      return kube::HttpResponse{200, {}, it->second.dump()};
    }
    if (request.method == "GET" && path == "/api/v1/pods") return ListPods(query);
    auto parts = Split(path);
    // /api/v1/namespaces/NS/pods/NAME[/eviction]
    if (parts.size() >= 6 && parts[2] == "namespaces" && parts[4] == "pods") {
      const std::string key = parts[3] + "/" + parts[5];
      if (request.method == "POST" && parts.size() == 7 && parts[6] == "eviction") {
        return Evict(key);
      }
      if (request.method == "GET" && parts.size() == 6) {
        auto it = pods_.find(key);
        if (it == pods_.end()) return StatusResponse(404, "NotFound", "pod not found");
        return kube::HttpResponse{200, {}, it->second.dump()};
      }
    }
    return StatusResponse(404, "NotFound", "no such path in the fake: " + path);
  }
  Result<kube::HttpResponse> Stream(const kube::HttpRequest&, const kube::ChunkHandler&,
                                    const kube::CancelToken&, std::chrono::milliseconds) override {
    return Error::Internal("no streams in the fake");
  }

 private:
  static json ReadyCondition(const std::string& status, const std::string& reason,
                             const std::string& message, WallTime since) {
    return {{"type", "Ready"},
            {"status", status},
            {"reason", reason},
            {"message", message},
            {"lastTransitionTime", FormatRfc3339(since)},
            {"lastHeartbeatTime", FormatRfc3339(since)}};
  }
  static std::vector<std::string> Split(const std::string& path) {
    std::vector<std::string> out;
    size_t start = 1;
    while (start <= path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      out.push_back(path.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
  static kube::HttpResponse StatusResponse(int code, const std::string& reason,
                                           const std::string& message, json details = nullptr) {
    json s = {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
              {"code", code},     {"reason", reason},   {"message", message}};
    if (!details.is_null()) s["details"] = details;
    return kube::HttpResponse{code, {}, s.dump()};
  }

  void SyncNodeLocked(const std::string& name) {
    json& n = nodes_.at(name);
    n["metadata"]["resourceVersion"] = std::to_string(++rv_);
    if (hold_informer_) return;
    auto decoded = kube::DecodeNode(n.dump());
    if (decoded.ok()) node_store_.Upsert(std::move(decoded).value());
  }

  kube::HttpResponse PatchNode(const std::string& name, const std::string& body) {
    auto it = nodes_.find(name);
    if (it == nodes_.end()) return StatusResponse(404, "NotFound", "node not found");
    patches_[name].push_back(body);
    if (fail_node_writes_ != 0) return StatusResponse(fail_node_writes_, "InternalError", "boom");
    json patch = json::parse(body);
    if (patch.contains("metadata") && patch["metadata"].contains("resourceVersion")) {
      if (patch["metadata"]["resourceVersion"] != it->second["metadata"]["resourceVersion"]) {
        return StatusResponse(409, "Conflict", "the object has been modified");
      }
      patch["metadata"].erase("resourceVersion");
    }
    it->second.merge_patch(patch);
    SyncNodeLocked(name);
    return kube::HttpResponse{200, {}, it->second.dump()};
  }

  kube::HttpResponse ListPods(const std::string& query) {
    static const std::string kField = "fieldSelector=spec.nodeName%3D";
    std::string node;
    if (auto at = query.find(kField); at != std::string::npos) {
      const size_t start = at + kField.size();
      node = query.substr(start, query.find('&', start) - start);
    }
    json items = json::array();
    for (const auto& [_, p] : pods_) {
      if (node.empty() || p["spec"]["nodeName"] == node) items.push_back(p);
    }
    json list = {{"kind", "PodList"},
                 {"apiVersion", "v1"},
                 {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
                 {"items", items}};
    return kube::HttpResponse{200, {}, list.dump()};
  }

  kube::HttpResponse Evict(const std::string& key) {
    auto it = pods_.find(key);
    if (it == pods_.end()) return StatusResponse(404, "NotFound", "pod not found");
    if (auto b = blocked_.find(key); b != blocked_.end()) {
      return StatusResponse(
          429, "TooManyRequests",
          "Cannot evict pod as it would violate the pod's disruption budget.",
          {{"causes",
            json::array({{{"reason", "DisruptionBudget"},
                          {"message", "The disruption budget " + b->second +
                                          " needs 2 healthy pods and has 2 currently"}}})}});
    }
    const std::string ns = it->second["metadata"]["namespace"];
    const std::string name = it->second["metadata"]["name"];
    if (stall_deletions_) {
      if (!it->second["metadata"].contains("deletionTimestamp")) {
        it->second["metadata"]["deletionTimestamp"] = FormatRfc3339(RealClock::Instance().Now());
        auto decoded = kube::DecodePod(it->second.dump());
        if (decoded.ok()) pod_store_.Upsert(std::move(decoded).value());
      }
      return kube::HttpResponse{201, {}, R"({"kind":"Status","status":"Success","code":201})"};
    }
    pods_.erase(it);
    pod_store_.Erase(ns, name);
    return kube::HttpResponse{201, {}, R"({"kind":"Status","status":"Success","code":201})"};
  }

  kube::Store<kube::Node>& node_store_;
  kube::Store<kube::Pod>& pod_store_;
  mutable std::mutex mu_;
  std::map<std::string, json> nodes_;                          // Guarded by mu_.
  std::map<std::string, json> pods_;                           // Guarded by mu_: by "ns/name".
  std::map<std::string, std::string> blocked_;                 // Guarded by mu_.
  std::vector<std::pair<std::string, std::string>> requests_;  // Guarded by mu_.
  std::map<std::string, std::vector<std::string>> patches_;    // Guarded by mu_.
  bool hold_informer_ = false;                                 // Guarded by mu_.
  bool stall_deletions_ = false;                               // Guarded by mu_.
  int fail_node_writes_ = 0;                                   // Guarded by mu_.
  int64_t rv_ = 1000;                                          // Guarded by mu_.
};

}  // namespace nodeguard::runtime::testing
