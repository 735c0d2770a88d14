#pragma once

// Conflict-safe JSON Patches (RFC 6902) that add, replace or remove
// nodeguard's density taint on a Node, together with its record
// (taint_record.h), without rewriting anyone else's taints.
//
// Why element operations rather than a replace of /spec/taints: a replace
// would re-serialise every other taint from the slim kube::Taint, so a field
// nodeguard does not model, or a timeAdded written with another precision,
// would silently change. Element operations leave every other array element
// exactly as the API server stored it. Conflict safety comes from a leading
// `test` of metadata.resourceVersion: if anything changed the Node since it was
// read (another controller adding a taint, a person editing it) the API server
// rejects the whole patch (HTTP 422, "test failed") and the caller re-reads the
// Node and decides again. A removal is also preceded by a `test` of the key
// at that index, so a decoder that reordered taints could never remove the
// wrong one. The taint and its record change in the same patch, so a crash
// can never leave one without the other.

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "density/taint_record.h"
#include "kube/objects.h"

namespace nodeguard::density {

// What is on the node now, relative to the taint nodeguard wants.
struct OwnTaintState {
  // nodeguard's recorded (or adopted, see taint_record.h) taint is on the node.
  bool present = false;
  // ... and it is exactly the desired taint, recorded for the deciding policy:
  // nothing to rewrite.
  bool matches_desired = false;
  // A taint nodeguard did not apply holds the desired key and effect, so the
  // desired taint cannot be added (Kubernetes keeps one per key and effect).
  bool foreign_holds_desired = false;
};
OwnTaintState InspectOwnTaint(const kube::Node& node, const OwnTaint& own,
                              const kube::Taint& desired, std::string_view policy);

// The Kubernetes JSON form of a taint: key, value (omitted when empty),
// effect, timeAdded (RFC 3339, omitted when unset).
nlohmann::json TaintToJson(const kube::Taint& taint);

// Builds the patch that turns the node into: every taint nodeguard did not
// apply unchanged and in place; nodeguard's own taint (own.index) removed
// unless it already equals want->taint; want->taint appended when set and not
// already there (with timeAdded `added_at`, omitted when unset); and the
// record annotation equal to EncodeTaintRecord(*want), or absent when want is
// unset. Returns nullopt when the node already is in that state.
// REQUIRES: node.meta.resource_version non-empty (an Invalid error otherwise:
// without it the patch is not conflict-safe); `own` from FindOwnTaint(node, ..);
// when want is set, no foreign taint holds its key and effect
// (ForeignTaintWith; an Invalid error otherwise).
// Send with Content-Type application/json-patch+json.
Result<std::optional<nlohmann::json>> BuildTaintPatch(const kube::Node& node, const OwnTaint& own,
                                                      const std::optional<TaintRecord>& want,
                                                      WallTime added_at = {});

}  // namespace nodeguard::density
