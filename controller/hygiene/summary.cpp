#include "hygiene/summary.h"

#include <algorithm>
#include <cassert>

namespace nodeguard::hygiene {
namespace {

void Add(FindingsSummary::Counts& c, const PodFindings& f, int64_t sign) {
  c.pods += sign;
  if (f.qos == kube::QosClass::kBestEffort) c.best_effort_pods += sign;
  const uint8_t missing = f.MissingUnion();
  for (size_t i = 0; i < c.missing.size(); ++i)
    if (missing & kResourceBitOrder[i]) c.missing[i] += sign;
}

}  // namespace

void FindingsSummary::Account(const PodFindings& f, int64_t sign) {
  Add(total_, f, sign);
  auto it = by_namespace_.find(f.namespace_.view());
  if (it == by_namespace_.end()) it = by_namespace_.emplace(f.namespace_.str(), Counts{}).first;
  Add(it->second, f, sign);
  if (it->second.pods == 0) by_namespace_.erase(it);
}

void FindingsSummary::Upsert(const PodFindings& findings) {
  assert(!findings.uid.empty());
  // Resyncs re-deliver unchanged pods: leave the aggregate alone.
  if (const PodFindings* old = Find(findings.uid); old != nullptr && *old == findings) return;
  Remove(findings.uid);
  if (!findings.Flagged()) return;
  Key key{findings.namespace_.str(), findings.name, findings.uid};
  keys_.emplace(findings.uid, key);
  auto [it, inserted] = pods_.emplace(std::move(key), findings);
  assert(inserted);
  Account(it->second, +1);
}

void FindingsSummary::Remove(const std::string& uid) {
  auto k = keys_.find(uid);
  if (k == keys_.end()) return;
  auto it = pods_.find(k->second);
  assert(it != pods_.end());
  Account(it->second, -1);
  pods_.erase(it);
  keys_.erase(k);
}

void FindingsSummary::Clear() {
  pods_.clear();
  keys_.clear();
  by_namespace_.clear();
  total_ = Counts{};
}

const PodFindings* FindingsSummary::Find(const std::string& uid) const {
  auto k = keys_.find(uid);
  if (k == keys_.end()) return nullptr;
  return &pods_.at(k->second);
}

std::vector<const PodFindings*> FindingsSummary::Examples() const {
  std::vector<const PodFindings*> out;
  for (auto it = pods_.begin(); it != pods_.end() && out.size() < max_examples_; ++it)
    out.push_back(&it->second);
  return out;
}

std::vector<const PodFindings*> FindingsSummary::PodsInNamespace(
    std::string_view namespace_name) const {
  std::vector<const PodFindings*> out;
  // Keys sort by namespace first: start at the first key of the namespace.
  auto it = pods_.lower_bound(Key{std::string(namespace_name), "", ""});
  for (; it != pods_.end() && std::get<0>(it->first) == namespace_name; ++it)
    out.push_back(&it->second);
  return out;
}

api::ResourceHygieneStatus FindingsSummary::ToStatus(size_t max_namespaces) const {
  api::ResourceHygieneStatus status;
  std::vector<const std::pair<const std::string, Counts>*> namespaces;
  namespaces.reserve(by_namespace_.size());
  for (const auto& entry : by_namespace_) namespaces.push_back(&entry);
  // by_namespace_ is sorted by name, so a stable sort by count keeps ties by name.
  std::stable_sort(namespaces.begin(), namespaces.end(),
                   [](const auto* a, const auto* b) { return a->second.pods > b->second.pods; });
  if (namespaces.size() > max_namespaces) namespaces.resize(max_namespaces);
  for (const auto* entry : namespaces) {
    api::NamespaceFindings nf;
    nf.namespace_ = entry->first;
    nf.pods = static_cast<int32_t>(entry->second.pods);
    status.namespaces.push_back(std::move(nf));
  }
  for (const PodFindings* f : Examples()) {
    api::FlaggedPod p;
    p.namespace_ = f->namespace_.str();
    p.name = f->name;
    p.findings = EncodeAnnotation(*f);
    status.example_pods.push_back(std::move(p));
  }
  return status;
}

}  // namespace nodeguard::hygiene
