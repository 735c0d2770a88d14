#pragma once

// Which policy governs which node. A node may be selected by several
// NodeHealthPolicies; exactly one governs it: the oldest (by
// creationTimestamp, then by name), so adding a policy never silently takes
// nodes away from one that already acts on them. The others report the node
// in status.conflicts. Age alone decides, not validity: an invalid edit to the
// governing policy pauses it rather than handing its nodes to different rules.

#include <map>
#include <string>
#include <vector>

#include "api/types.h"
#include "kube/objects.h"

namespace nodeguard::runtime {

struct PolicyNodes {
  std::vector<std::string> governed;           // Sorted node names this policy acts on.
  std::vector<api::PolicyConflict> conflicts;  // Selected here, governed by an older policy.
  int32_t selected = 0;                        // governed + conflicts.
};

struct Resolution {
  std::map<std::string, PolicyNodes> by_policy;  // Every policy appears, even if empty.
  std::map<std::string, std::string> governing;  // Node name -> policy name.
};

// True when `a` governs before `b`.
bool GovernsBefore(const api::NodeHealthPolicy& a, const api::NodeHealthPolicy& b);

// Policies being deleted (deletionTimestamp set) govern nothing: their nodes go
// to the next policy, and their own cleanup runs separately.
Resolution ResolvePolicies(const std::vector<const api::NodeHealthPolicy*>& policies,
                           const std::vector<const kube::Node*>& nodes);

// The governing policy of one node, or nullptr: the incremental form used on a
// node event. `policies` must be sorted with GovernsBefore.
const api::NodeHealthPolicy* GoverningPolicy(
    const std::vector<const api::NodeHealthPolicy*>& sorted_policies, const kube::Node& node);

}  // namespace nodeguard::runtime
