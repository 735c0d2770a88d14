#include "writes/rest_seams.h"

#include <nlohmann/json.hpp>

#include "api/types.h"
#include "kube/decode.h"
#include "observe/log.h"

namespace nodeguard::writes {
namespace {

constexpr std::string_view kPolicyReportGroup = "wgpolicyk8s.io";
constexpr std::string_view kPolicyReportVersion = "v1alpha2";
constexpr std::string_view kManagedBySelector = "app.kubernetes.io/managed-by=nodeguard";

kube::ResourcePath PolicyReports(std::string namespace_name = "") {
  return kube::GroupResource(kPolicyReportGroup, kPolicyReportVersion, "policyreports",
                             std::move(namespace_name));
}

}  // namespace

// ---------------------------------------------------------------- nodes

Result<std::shared_ptr<const kube::Node>> RestNodeWriter::Patch(
    const std::string& name, const NodePatch& patch, const std::string& resource_version) {
  auto written = rest_.Patch(kube::CoreResource("nodes"), name, kube::PatchType::kMerge,
                             EncodeNodePatch(patch, resource_version));
  const bool conditional = !resource_version.empty();
  if (!written.ok()) {
    if (conditional && written.error().Is(ErrorKind::kConflict)) ReadAgainAfterConflict(name);
    return written.error();
  }
  if (!conditional) return std::shared_ptr<const kube::Node>();
  auto decoded = kube::DecodeNode(*written);
  if (!decoded.ok()) {
    observe::Log().Warn("cannot decode the patched node; the informer's copy will be used",
                        {{"node", name}, {"error", decoded.error().ToString()}});
    return std::shared_ptr<const kube::Node>();
  }
  auto node = std::make_shared<const kube::Node>(std::move(decoded).value());
  std::lock_guard lock(mu_);
  view_.Written(node);
  return std::shared_ptr<const kube::Node>(std::move(node));
}

void RestNodeWriter::ReadAgainAfterConflict(const std::string& name) {
  // client-go's RetryOnConflict: read the object again rather than wait for
  // the informer, which lags most when the API server is busiest.
  auto fresh = rest_.Get(kube::CoreResource("nodes"), name);
  if (!fresh.ok()) {
    observe::Log().Info(
        "cannot read a node again after a conflict; the informer's copy will be used",
        {{"node", name}, {"error", fresh.error().ToString()}});
    return;
  }
  auto decoded = kube::DecodeNode(*fresh);
  if (!decoded.ok()) {
    observe::Log().Warn("cannot decode a node read again after a conflict",
                        {{"node", name}, {"error", decoded.error().ToString()}});
    return;
  }
  std::lock_guard lock(mu_);
  view_.ReadAgain(std::make_shared<const kube::Node>(std::move(decoded).value()));
}

Status RestNodeWriter::PatchJson(const std::string& name, const std::string& json_patch) {
  auto written = rest_.Patch(kube::CoreResource("nodes"), name, kube::PatchType::kJson, json_patch);
  if (!written.ok()) {
    // A failed `test` (someone changed the node) is 422: re-read and decide again.
    if (written.error().http_status == 422) {
      return Error::Of(ErrorKind::kConflict, written.error().message);
    }
    return written.error();
  }
  return Status::Ok();
}

void RestNodeWriter::Freshen(std::vector<std::shared_ptr<const kube::Node>>& nodes) {
  std::lock_guard lock(mu_);
  view_.Freshen(nodes);
}

// ---------------------------------------------------------------- pods

Status RestPodAnnotator::Annotate(const std::string& namespace_, const std::string& name,
                                  const std::string& resource_version, const std::string& key,
                                  const std::optional<std::string>& value) {
  nlohmann::json annotations = nlohmann::json::object();
  annotations[key] = value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  nlohmann::json patch = {
      {"metadata",
       {{"resourceVersion", resource_version}, {"annotations", std::move(annotations)}}}};
  auto written = rest_.Patch(kube::CoreResource("pods", namespace_), name, kube::PatchType::kMerge,
                             patch.dump());
  if (!written.ok()) return written.error();
  return Status::Ok();
}

// ---------------------------------------------------------------- events

Result<std::vector<EventSummary>> RestEvents::ListByReason(std::string_view reason) {
  kube::ListOptions list;
  list.field_selector = "reason=" + std::string(reason);
  auto events = rest_.ListAll(kube::CoreResource("events"), list);
  if (!events.ok()) return events.error();
  std::vector<EventSummary> out;
  out.reserve(events->items.size());
  for (const std::string& item : events->items) {
    auto doc = nlohmann::json::parse(item, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) continue;
    EventSummary e;
    const auto involved = doc.value("involvedObject", nlohmann::json::object());
    if (involved.is_object()) {
      e.involved_kind = involved.value("kind", "");
      e.involved_namespace = involved.value("namespace", "");
      e.involved_name = involved.value("name", "");
      e.involved_uid = involved.value("uid", "");
    }
    const auto source = doc.value("source", nlohmann::json::object());
    if (source.is_object()) e.source_component = source.value("component", "");
    e.reporting_component = doc.value("reportingComponent", "");
    out.push_back(std::move(e));
  }
  return out;
}

Status RestEvents::Create(const kube::EventRecord& event) {
  auto created = rest_.Create(kube::CoreResource("events", event.namespace_), event.ToJson());
  if (!created.ok()) return created.error();
  return Status::Ok();
}

// ---------------------------------------------------------------- policy reports

Result<bool> RestPolicyReports::Served() {
  kube::HttpRequest request;
  request.path_and_query =
      "/apis/" + std::string(kPolicyReportGroup) + "/" + std::string(kPolicyReportVersion);
  auto response = rest_.Do(std::move(request), {}, "discovery");
  if (!response.ok()) {
    if (response.error().Is(ErrorKind::kNotFound)) return false;
    return response.error();
  }
  auto doc = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("resources") && doc["resources"].is_array()) {
    for (const auto& r : doc["resources"]) {
      if (r.is_object() && r.value("name", "") == "policyreports") return true;
    }
  }
  return false;
}

Result<std::set<std::pair<std::string, std::string>>> RestPolicyReports::ListManaged() {
  kube::ListOptions list;
  list.label_selector = std::string(kManagedBySelector);
  auto reports = rest_.ListAll(PolicyReports(), list);
  if (!reports.ok()) return reports.error();
  std::set<std::pair<std::string, std::string>> out;
  for (const std::string& item : reports->items) {
    auto doc = nlohmann::json::parse(item, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object() || !doc.contains("metadata")) continue;
    const auto& meta = doc["metadata"];
    out.insert({meta.value("namespace", ""), meta.value("name", "")});
  }
  return out;
}

Status RestPolicyReports::Apply(const std::string& namespace_, const std::string& name,
                                const std::string& report) {
  kube::WriteOptions write;
  write.field_manager = field_manager_;
  write.force = true;  // nodeguard owns these reports entirely.
  auto applied =
      rest_.Patch(PolicyReports(namespace_), name, kube::PatchType::kApply, report, write);
  if (!applied.ok()) return applied.error();
  return Status::Ok();
}

Status RestPolicyReports::Delete(const std::string& namespace_, const std::string& name) {
  return rest_.Delete(PolicyReports(namespace_), name);
}

// ---------------------------------------------------------------- finalizers

Status RestFinalizers::Set(const std::string& policy, const std::string& resource_version,
                           const std::vector<std::string>& finalizers) {
  // A merge patch carrying resourceVersion is conflict-safe: a concurrent
  // change to the policy fails it with 409 and the reconcile runs again.
  nlohmann::json patch = {
      {"metadata", {{"finalizers", finalizers}, {"resourceVersion", resource_version}}}};
  auto written = rest_.Patch(kube::GroupResource(api::kGroup, api::kVersion, api::kPlural), policy,
                             kube::PatchType::kMerge, patch.dump());
  if (!written.ok()) return written.error();
  return Status::Ok();
}

}  // namespace nodeguard::writes
