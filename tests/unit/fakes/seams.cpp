#include "fakes/seams.h"

#include <algorithm>

namespace nodeguard::fakes {
namespace {

std::optional<Error> TakeFailure(std::deque<Error>& fail) {
  if (fail.empty()) return std::nullopt;
  Error e = std::move(fail.front());
  fail.pop_front();
  return e;
}

}  // namespace

// ---------------------------------------------------------------- nodes

Result<std::shared_ptr<const kube::Node>> FakeNodeWriter::Patch(
    const std::string& name, const writes::NodePatch& patch, const std::string& resource_version) {
  std::lock_guard lock(mu);
  calls_.push_back("patch " + name + " " + (resource_version.empty() ? "-" : resource_version) +
                   " " + writes::EncodeNodePatch(patch, ""));
  if (auto e = TakeFailure(fail)) return *e;
  if (resource_version.empty()) return std::shared_ptr<const kube::Node>();
  auto it = written.find(name);
  if (it == written.end()) return std::shared_ptr<const kube::Node>();
  view_.Written(it->second);
  return it->second;
}

Status FakeNodeWriter::PatchJson(const std::string& name, const std::string& json_patch) {
  std::lock_guard lock(mu);
  calls_.push_back("json " + name + " " + json_patch);
  if (auto e = TakeFailure(fail)) return *e;
  return Status::Ok();
}

void FakeNodeWriter::Freshen(std::vector<std::shared_ptr<const kube::Node>>& nodes) {
  std::lock_guard lock(mu);
  view_.Freshen(nodes);
}

std::vector<std::string> FakeNodeWriter::Calls() const {
  std::lock_guard lock(mu);
  return calls_;
}

// ---------------------------------------------------------------- pods

Status FakePodAnnotator::Annotate(const std::string& namespace_, const std::string& name,
                                  const std::string& resource_version, const std::string& key,
                                  const std::optional<std::string>& value) {
  std::lock_guard lock(mu);
  calls_.push_back(namespace_ + "/" + name + " " + resource_version + " " + key + "=" +
                   value.value_or("<removed>"));
  if (auto e = TakeFailure(fail)) return *e;
  return Status::Ok();
}

std::vector<std::string> FakePodAnnotator::Calls() const {
  std::lock_guard lock(mu);
  return calls_;
}

// ---------------------------------------------------------------- events

Result<std::vector<writes::EventSummary>> FakeEvents::ListByReason(std::string_view reason) {
  std::lock_guard lock(mu);
  if (list_error) return *list_error;
  auto it = listed.find(std::string(reason));
  return it == listed.end() ? std::vector<writes::EventSummary>{} : it->second;
}

Status FakeEvents::Create(const kube::EventRecord& event) {
  std::lock_guard lock(mu);
  const std::string key = event.namespace_ + "/" + event.name;
  calls_.push_back(key + " " + event.reason);
  if (!names_.insert(key).second) return Error::Of(ErrorKind::kAlreadyExists, key);
  writes::EventSummary e;
  e.involved_kind = event.involved.kind;
  e.involved_namespace = event.involved.namespace_;
  e.involved_name = event.involved.name;
  e.involved_uid = event.involved.uid;
  e.source_component = e.reporting_component = event.component;
  listed[event.reason].push_back(std::move(e));
  return Status::Ok();
}

std::vector<std::string> FakeEvents::Calls() const {
  std::lock_guard lock(mu);
  return calls_;
}

// ---------------------------------------------------------------- policy reports

Result<bool> FakePolicyReports::Served() {
  std::lock_guard lock(mu);
  return served;
}

Result<std::set<std::pair<std::string, std::string>>> FakePolicyReports::ListManaged() {
  std::lock_guard lock(mu);
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& [key, _] : reports) out.insert(key);
  return out;
}

Status FakePolicyReports::Apply(const std::string& namespace_, const std::string& name,
                                const std::string& report) {
  std::lock_guard lock(mu);
  calls_.push_back("apply " + namespace_ + "/" + name);
  if (auto e = TakeFailure(fail)) return *e;
  reports[{namespace_, name}] = report;
  return Status::Ok();
}

Status FakePolicyReports::Delete(const std::string& namespace_, const std::string& name) {
  std::lock_guard lock(mu);
  calls_.push_back("delete " + namespace_ + "/" + name);
  if (auto e = TakeFailure(fail)) return *e;
  if (reports.erase({namespace_, name}) == 0) return Error::Of(ErrorKind::kNotFound, name);
  return Status::Ok();
}

std::vector<std::string> FakePolicyReports::Calls() const {
  std::lock_guard lock(mu);
  return calls_;
}

// ---------------------------------------------------------------- finalizers

Status FakeFinalizers::Set(const std::string& policy, const std::string& resource_version,
                           const std::vector<std::string>& finalizers) {
  std::lock_guard lock(mu);
  std::string list;
  for (const auto& f : finalizers) list += (list.empty() ? "" : ",") + f;
  calls_.push_back(policy + " " + resource_version + " [" + list + "]");
  if (auto e = TakeFailure(fail)) return *e;
  return Status::Ok();
}

std::vector<std::string> FakeFinalizers::Calls() const {
  std::lock_guard lock(mu);
  return calls_;
}

// ---------------------------------------------------------------- drain

Result<std::vector<kube::Pod>> FakeDrainApi::ListPods(const std::string& node,
                                                      const api::LabelSelector&) {
  std::lock_guard lock(mu);
  calls_.push_back("list " + node);
  std::vector<kube::Pod> out;
  for (const auto& p : pods) {
    if (p.node_name.view() == node) out.push_back(p);
  }
  return out;
}

remediation::EvictionResult FakeDrainApi::Evict(const remediation::DrainPodRef& pod,
                                                std::optional<int64_t>) {
  std::lock_guard lock(mu);
  const std::string key = pod.namespace_ + "/" + pod.name;
  calls_.push_back("evict " + key);
  if (auto it = answers.find(key); it != answers.end()) return it->second;
  std::erase_if(pods, [&](const kube::Pod& p) {
    return p.meta.namespace_.view() == pod.namespace_ && p.meta.name == pod.name;
  });
  return remediation::EvictionResult{};
}

Result<std::optional<remediation::ObservedPod>> FakeDrainApi::GetPod(
    const remediation::DrainPodRef& pod) {
  std::lock_guard lock(mu);
  for (const auto& p : pods) {
    if (p.meta.namespace_.view() == pod.namespace_ && p.meta.name == pod.name) {
      return std::optional<remediation::ObservedPod>(
          remediation::ObservedPod{p.meta.uid.str(), p.meta.deletion_timestamp});
    }
  }
  return std::optional<remediation::ObservedPod>();
}

bool FakeDrainApi::NodeReady(const std::string& node) {
  std::lock_guard lock(mu);
  return not_ready.count(node) == 0;
}

std::vector<std::string> FakeDrainApi::Calls() const {
  std::lock_guard lock(mu);
  return calls_;
}

}  // namespace nodeguard::fakes
