#include "fakes/api_server.h"

#include <gtest/gtest.h>

#include "hygiene/decide.h"
#include "kube/rest.h"

namespace nodeguard::fakes {
namespace {

using json = nlohmann::json;

std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    const size_t eq = part.find('=');
    if (eq != std::string_view::npos) {
      out[std::string(part.substr(0, eq))] = Unescape(part.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

kube::HttpResponse Ok(const json& body, int code = 200) {
  return {code, {{"content-type", "application/json"}}, body.dump()};
}

json ReadyCondition(const std::string& status, const std::string& reason,
                    const std::string& message, WallTime since) {
  return {{"type", "Ready"},
          {"status", status},
          {"reason", reason},
          {"message", message},
          {"lastTransitionTime", FormatRfc3339(since)},
          {"lastHeartbeatTime", FormatRfc3339(since)}};
}

}  // namespace

kube::HttpResponse StatusResponse(int code, const std::string& reason, const std::string& message,
                                  json details) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"},
            {"status", "Failure"}, {"code", code},
            {"reason", reason},    {"message", message.empty() ? reason : message}};
  if (!details.is_null()) s["details"] = details;
  return {code, {{"content-type", "application/json"}}, s.dump()};
}

// ---- what tests set up

void FakeApiServer::AddNode(const std::string& name, WallTime ready_since,
                            const std::string& boot_id) {
  std::lock_guard lock(mu);
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

void FakeApiServer::SetReady(const std::string& name, const std::string& status,
                             const std::string& message, WallTime since) {
  std::lock_guard lock(mu);
  nodes_.at(name)["status"]["conditions"] = json::array({ReadyCondition(
      status, status == "True" ? "KubeletReady" : "KubeletNotReady", message, since)});
  SyncNodeLocked(name);
}

void FakeApiServer::SetBootId(const std::string& name, const std::string& boot_id) {
  std::lock_guard lock(mu);
  nodes_.at(name)["status"]["nodeInfo"]["bootID"] = boot_id;
  SyncNodeLocked(name);
}

void FakeApiServer::SetUnschedulable(const std::string& name, bool value) {
  std::lock_guard lock(mu);
  nodes_.at(name)["spec"]["unschedulable"] = value;
  SyncNodeLocked(name);
}

void FakeApiServer::SetAnnotation(const std::string& name, const std::string& key,
                                  const std::string& value) {
  std::lock_guard lock(mu);
  nodes_.at(name)["metadata"]["annotations"][key] = value;
  SyncNodeLocked(name);
}

void FakeApiServer::SetLabel(const std::string& name, const std::string& key,
                             const std::string& value) {
  std::lock_guard lock(mu);
  nodes_.at(name)["metadata"]["labels"][key] = value;
  SyncNodeLocked(name);
}

void FakeApiServer::AddPod(const std::string& ns, const std::string& name, const std::string& node,
                           const std::string& controller_kind) {
  std::lock_guard lock(mu);
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

void FakeApiServer::BlockEviction(const std::string& ns_name, const std::string& pdb) {
  std::lock_guard lock(mu);
  blocked_[ns_name] = pdb;
}

void FakeApiServer::UnblockEviction(const std::string& ns_name) {
  std::lock_guard lock(mu);
  blocked_.erase(ns_name);
}

void FakeApiServer::StallDeletions(bool stall) {
  std::lock_guard lock(mu);
  stall_deletions_ = stall;
}

void FakeApiServer::HoldInformer(bool hold) {
  std::lock_guard lock(mu);
  hold_informer_ = hold;
  if (!hold) {
    for (const auto& [name, _] : nodes_) SyncNodeLocked(name);
  }
}

void FakeApiServer::FailNodeWrites(int status) {
  std::lock_guard lock(mu);
  fail_node_writes_ = status;
}

// ---- what tests read

nlohmann::json FakeApiServer::Node(const std::string& name) const {
  std::lock_guard lock(mu);
  return nodes_.at(name);
}

std::string FakeApiServer::Annotation(const std::string& name, const std::string& key) const {
  std::lock_guard lock(mu);
  const json& a = nodes_.at(name)["metadata"]["annotations"];
  return a.contains(key) ? a[key].get<std::string>() : "";
}

bool FakeApiServer::Unschedulable(const std::string& name) const {
  std::lock_guard lock(mu);
  const json& spec = nodes_.at(name)["spec"];
  return spec.contains("unschedulable") && spec["unschedulable"].is_boolean() &&
         spec["unschedulable"].get<bool>();
}

bool FakeApiServer::HasPod(const std::string& ns_name) const {
  std::lock_guard lock(mu);
  return pods_.count(ns_name) > 0;
}

int FakeApiServer::Count(const std::string& method, const std::string& path_prefix) const {
  return static_cast<int>(CountRequests(method + " " + path_prefix));
}

size_t FakeApiServer::CountRequests(std::string_view prefix) const {
  std::lock_guard lock(mu);
  size_t n = 0;
  for (const auto& r : requests) n += r.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

std::vector<std::string> FakeApiServer::PatchBodies(const std::string& node) const {
  std::lock_guard lock(mu);
  auto it = patches_.find(node);
  return it == patches_.end() ? std::vector<std::string>{} : it->second;
}

std::map<std::string, nlohmann::json> FakeApiServer::EventsWithReason(
    std::string_view reason) const {
  std::lock_guard lock(mu);
  std::map<std::string, json> out;
  for (const auto& [k, e] : events) {
    if (e.value("reason", "") == reason) out[k] = e;
  }
  return out;
}

// ---- kube::HttpClient

Result<kube::HttpResponse> FakeApiServer::Send(const kube::HttpRequest& request) {
  std::lock_guard lock(mu);
  requests.push_back(request.method + " " + request.path_and_query);
  if (inject) {
    if (auto r = inject(request)) return *r;
  }
  const size_t q = request.path_and_query.find('?');
  const std::string path = request.path_and_query.substr(0, q);
  const std::string raw_query = q == std::string::npos ? "" : request.path_and_query.substr(q);
  const auto query = ParseQuery(q == std::string::npos ? "" : request.path_and_query.substr(q + 1));
  const auto seg = Split(path);

  static const std::string kNodes = "/api/v1/nodes/";
  if (request.method == "PATCH" && path.rfind(kNodes, 0) == 0) {
    return PatchNode(path.substr(kNodes.size()), request.body);
  }
  if (request.method == "GET" && path.rfind(kNodes, 0) == 0) {
    auto it = nodes_.find(path.substr(kNodes.size()));
    if (it == nodes_.end()) return StatusResponse(404, "NotFound", "node not found");
    return kube::HttpResponse{200, {}, it->second.dump()};
  }
  if (request.method == "GET" && path == "/api/v1/pods") return ListPods(raw_query);
  // /api/v1/namespaces/NS/pods/NAME[/eviction]
  if (seg.size() >= 6 && seg[0] == "api" && seg[2] == "namespaces" && seg[4] == "pods") {
    const std::string key = seg[3] + "/" + seg[5];
    if (request.method == "POST" && seg.size() == 7 && seg[6] == "eviction") return Evict(key);
    if (request.method == "GET" && seg.size() == 6) {
      auto it = pods_.find(key);
      if (it == pods_.end()) return StatusResponse(404, "NotFound", "pod not found");
      return kube::HttpResponse{200, {}, it->second.dump()};
    }
    if (request.method == "PATCH" && seg.size() == 6) return PatchPod(seg[3], seg[5], request.body);
  }
  if (auto r = ServeEvents(request, path, seg, query)) return *r;
  if (auto r = ServeReports(request, path, seg, query)) return *r;
  return StatusResponse(404, "NotFound", "no such path in the fake: " + path);
}

Result<kube::HttpResponse> FakeApiServer::Stream(const kube::HttpRequest&,
                                                 const kube::ChunkHandler&,
                                                 const kube::CancelToken&,
                                                 std::chrono::milliseconds) {
  return Error::Internal("no streams in the fake");
}

// ---- private

void FakeApiServer::SyncNodeLocked(const std::string& name) {
  json& n = nodes_.at(name);
  n["metadata"]["resourceVersion"] = std::to_string(++rv_);
  if (hold_informer_) return;
  auto decoded = kube::DecodeNode(n.dump());
  if (decoded.ok()) node_store_.Upsert(std::move(decoded).value());
}

kube::HttpResponse FakeApiServer::PatchNode(const std::string& name, const std::string& body) {
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

// A merge patch of the findings annotation, against the informer's copy.
kube::HttpResponse FakeApiServer::PatchPod(const std::string& ns, const std::string& name,
                                           const std::string& body) {
  auto pod = pod_store_.Get(ns, name);
  if (!pod) return StatusResponse(404, "NotFound");
  json patch = json::parse(body);
  if (patch["metadata"].value("resourceVersion", "") != pod->meta.resource_version) {
    return StatusResponse(409, "Conflict");
  }
  kube::Pod updated = *pod;
  const auto& value = patch["metadata"]["annotations"][std::string(hygiene::kFindingsAnnotation)];
  updated.resource_findings_annotation =
      kube::Symbol::Intern(value.is_null() ? "" : value.get<std::string>());
  updated.meta.resource_version = std::to_string(++rv_);
  pod_updates.push_back(std::move(updated));
  pod_patches.push_back(ns + "/" + name + "=" +
                        (value.is_null() ? "<removed>" : value.get<std::string>()));
  return Ok(json::object());
}

kube::HttpResponse FakeApiServer::ListPods(const std::string& query) {
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

kube::HttpResponse FakeApiServer::Evict(const std::string& key) {
  auto it = pods_.find(key);
  if (it == pods_.end()) return StatusResponse(404, "NotFound", "pod not found");
  if (auto b = blocked_.find(key); b != blocked_.end()) {
    return StatusResponse(
        429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
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

std::optional<kube::HttpResponse> FakeApiServer::ServeEvents(
    const kube::HttpRequest& request, const std::string& path, const std::vector<std::string>& seg,
    const std::map<std::string, std::string>& query) {
  // /api/v1/events (list across namespaces)
  if (request.method == "GET" && path == "/api/v1/events") {
    std::string reason;
    if (auto it = query.find("fieldSelector"); it != query.end()) {
      if (it->second.rfind("reason=", 0) == 0) reason = it->second.substr(7);
    }
    json items = json::array();
    for (const auto& [_, e] : events) {
      if (reason.empty() || e.value("reason", "") == reason) items.push_back(e);
    }
    return Ok({{"kind", "EventList"}, {"metadata", {{"resourceVersion", "9"}}}, {"items", items}});
  }
  // /api/v1/namespaces/NS/events[/NAME]
  if (seg.size() >= 5 && seg[0] == "api" && seg[2] == "namespaces" && seg[4] == "events") {
    const std::string& ns = seg[3];
    if (request.method == "POST") {
      json e = json::parse(request.body);
      const std::string name = e["metadata"].value("name", "");
      if (e["metadata"].value("namespace", "") != ns ||
          e["involvedObject"].value("namespace", ns) != ns) {
        return StatusResponse(422, "Invalid");
      }
      if (events.count(ns + "/" + name) > 0) return StatusResponse(409, "AlreadyExists");
      events[ns + "/" + name] = e;
      return Ok(e, 201);
    }
    if (request.method == "PATCH" && seg.size() == 6) {
      auto it = events.find(ns + "/" + seg[5]);
      if (it == events.end()) return StatusResponse(404, "NotFound");
      it->second.merge_patch(json::parse(request.body));
      return Ok(it->second);
    }
  }
  return std::nullopt;
}

std::optional<kube::HttpResponse> FakeApiServer::ServeReports(
    const kube::HttpRequest& request, const std::string& path, const std::vector<std::string>& seg,
    const std::map<std::string, std::string>& query) {
  if (path == "/apis/wgpolicyk8s.io/v1alpha2") {
    if (!reports_api) return StatusResponse(404, "NotFound");
    return Ok({{"kind", "APIResourceList"},
               {"groupVersion", "wgpolicyk8s.io/v1alpha2"},
               {"resources", {{{"name", "policyreports"}, {"namespaced", true}}}}});
  }
  if (path == "/apis/wgpolicyk8s.io/v1alpha2/policyreports" && request.method == "GET") {
    json items = json::array();
    for (const auto& [_, r] : reports) items.push_back(r);
    return Ok({{"kind", "PolicyReportList"}, {"metadata", json::object()}, {"items", items}});
  }
  if (seg.size() == 7 && seg[0] == "apis" && seg[1] == "wgpolicyk8s.io" &&
      seg[5] == "policyreports") {
    const std::string key = seg[4] + "/" + seg[6];
    if (request.method == "PATCH") {
      // Server-side apply, owned by nodeguard.
      EXPECT_EQ(request.headers.count("Content-Type") ? request.headers.at("Content-Type") : "",
                kube::PatchContentType(kube::PatchType::kApply));
      EXPECT_EQ(query.count("fieldManager") ? query.at("fieldManager") : "", "nodeguard");
      EXPECT_EQ(query.count("force") ? query.at("force") : "", "true");
      reports[key] = json::parse(request.body);
      return Ok(reports[key]);
    }
    if (request.method == "DELETE") {
      if (reports.erase(key) == 0) return StatusResponse(404, "NotFound");
      return Ok({{"kind", "Status"}, {"status", "Success"}});
    }
  }
  return std::nullopt;
}

}  // namespace nodeguard::fakes
