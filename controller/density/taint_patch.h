#pragma once

// Conflict-safe JSON Patches (RFC 6902) that add, replace or remove
// nodeguard's density taint on a Node without rewriting anyone else's taints.
//
// Why element operations rather than a replace of /spec/taints: a replace
// would re-serialise every other taint from the slim kube::Taint, so a field
// nodeguard does not model, or a timeAdded written with another precision,
// would silently change. Element operations leave every other array element
// exactly as the API server stored it. Conflict safety comes from a leading
// `test` of metadata.resourceVersion: if anything changed the Node since it was
// read (another controller adding a taint, a person editing it) the API server
// rejects the whole patch (HTTP 422, "test failed") and the caller re-reads the
// Node and decides again. Each removal is also preceded by a `test` of the key
// at that index, so a decoder that reordered taints could never remove the
// wrong one.

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "kube/objects.h"

namespace nodeguard::density {

// How nodeguard recognises its own taint: by key alone, whatever its value and
// effect. The key lives in nodeguard's domain (e.g. "nodeguard.io/density-capped"),
// so a taint carrying it is nodeguard's to manage, including one left by a
// deleted or renamed policy, one with an effect the policy no longer asks for,
// or one a person added by hand (which nodeguard will then remove once the node
// is below its release mark).
bool IsOwnTaint(const kube::Taint& taint, std::string_view own_key);

// What is on the node now, relative to the taint nodeguard wants.
struct OwnTaintState {
  bool present = false;          // At least one taint with the own key.
  bool matches_desired = false;  // Exactly one, equal in key, value and effect.
};
OwnTaintState InspectOwnTaint(const std::vector<kube::Taint>& taints, const kube::Taint& desired);

// The Kubernetes JSON form of a taint: key, value (omitted when empty),
// effect, timeAdded (RFC 3339, omitted when unset).
nlohmann::json TaintToJson(const kube::Taint& taint);

// Builds the patch that turns node.taints into: every taint without the own
// key unchanged and in place, plus `desired` if it is set (appended at the end
// if not already present with the same value and effect), and no other taint
// with the own key. Returns nullopt when the node already is in that state, so
// there is nothing to send.
// REQUIRES: desired->key == own_key when desired is set; node.meta.resource_version
// non-empty (an Invalid error otherwise: without it the patch is not conflict-safe).
// Send with Content-Type application/json-patch+json.
Result<std::optional<nlohmann::json>> BuildTaintPatch(const kube::Node& node,
                                                      std::string_view own_key,
                                                      const std::optional<kube::Taint>& desired);

}  // namespace nodeguard::density
