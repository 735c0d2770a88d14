#include "reconcile/reconciler.h"

#include <algorithm>

#include "reconcile/resolver.h"

namespace nodeguard::runtime {

PolicyList Deps::SortedPolicies() const {
  PolicyList out;
  for (auto& p : policies->List()) out.push_back(p);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return GovernsBefore(a->policy, b->policy); });
  return out;
}

std::shared_ptr<const PolicyObject> Deps::Governing(const PolicyList& sorted,
                                                    const kube::Node& node) const {
  for (const auto& p : sorted) {
    if (!p->deleting() && p->policy.spec.node_selector.Matches(node.labels)) return p;
  }
  return nullptr;
}

kube::ObjectReference NodeRef(const kube::Node& node) {
  kube::ObjectReference ref;
  ref.kind = "Node";
  ref.api_version = "v1";
  ref.name = node.meta.name;
  ref.uid = node.meta.uid.str();
  return ref;
}

kube::ObjectReference PolicyRef(const PolicyObject& policy) {
  kube::ObjectReference ref;
  ref.kind = api::kKind;
  ref.api_version = api::kApiVersion;
  ref.name = policy.meta.name;
  ref.uid = policy.meta.uid.str();
  return ref;
}

}  // namespace nodeguard::runtime
