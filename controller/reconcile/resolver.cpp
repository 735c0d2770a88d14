#include "reconcile/resolver.h"

#include <algorithm>

namespace nodeguard::runtime {

bool GovernsBefore(const api::NodeHealthPolicy& a, const api::NodeHealthPolicy& b) {
  if (a.meta.creation_timestamp != b.meta.creation_timestamp) {
    return a.meta.creation_timestamp < b.meta.creation_timestamp;
  }
  return a.meta.name < b.meta.name;
}

namespace {
bool Active(const api::NodeHealthPolicy& p) { return !kube::IsSet(p.meta.deletion_timestamp); }
}  // namespace

const api::NodeHealthPolicy* GoverningPolicy(
    const std::vector<const api::NodeHealthPolicy*>& sorted_policies, const kube::Node& node) {
  for (const api::NodeHealthPolicy* p : sorted_policies) {
    if (Active(*p) && p->spec.node_selector.Matches(node.labels)) return p;
  }
  return nullptr;
}

Resolution ResolvePolicies(const std::vector<const api::NodeHealthPolicy*>& policies,
                           const std::vector<const kube::Node*>& nodes) {
  std::vector<const api::NodeHealthPolicy*> sorted = policies;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return GovernsBefore(*a, *b); });

  Resolution out;
  for (const auto* p : sorted) out.by_policy[p->meta.name];
  for (const kube::Node* node : nodes) {
    const api::NodeHealthPolicy* governor = nullptr;
    for (const auto* p : sorted) {
      if (!Active(*p) || !p->spec.node_selector.Matches(node->labels)) continue;
      PolicyNodes& entry = out.by_policy[p->meta.name];
      ++entry.selected;
      if (governor == nullptr) {
        governor = p;
        entry.governed.push_back(node->meta.name);
        out.governing[node->meta.name] = p->meta.name;
      } else {
        entry.conflicts.push_back({node->meta.name, governor->meta.name});
      }
    }
  }
  for (auto& [name, entry] : out.by_policy) {
    std::sort(entry.governed.begin(), entry.governed.end());
    std::sort(entry.conflicts.begin(), entry.conflicts.end(),
              [](const auto& a, const auto& b) { return a.node < b.node; });
  }
  return out;
}

}  // namespace nodeguard::runtime
