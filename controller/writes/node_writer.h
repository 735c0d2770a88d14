#pragma once

// NodeWriter: every write the reconcilers make to a Node, and the
// read-your-writes view of the nodes they wrote.
//
// Writes:
//   - Patch: a JSON merge patch of nodeguard.io annotations and
//     spec.unschedulable (remediation's state, agent request and cordon; the
//     policy reconciler's early-warning record; density's thresholds marks),
//     conditional on a resourceVersion when one is given;
//   - PatchJson: an RFC 6902 JSON patch (density's taint and its record,
//     density/taint_patch.h, which opens with a `test` of resourceVersion).
//
// The read-your-writes view: the informer delivers our own writes some time
// after the API server answered them (most when the server is busiest), so a
// reconciler that decided on its cache again at once would count a budget
// from stale annotations. The view keeps, by node name, the copy a
// conditional Patch returned and the copy read again after one of its
// conflicts; Freshen gives a reconciler, for each node, the newer of the
// informer's copy and the view's (resourceVersion order), dropping what the
// informer has caught up with. The view is a cache of the cluster, never a
// second source of truth: it only ever holds copies the API server returned,
// every write it feeds is conditional (a stale copy costs a 409, never a lost
// update), and a restarted process starts with an empty view over a freshly
// listed informer, which is then exact.
//
// Errors are as kube::ErrorFromResponse maps them (kConflict: the node changed since
// `resource_version`, or a JSON patch's `test` failed; kNotFound; ...).
// Implementations are thread-safe.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "kube/objects.h"

namespace nodeguard::writes {

// What a merge patch of a node sets.
struct NodePatch {
  // Set these annotations; nullopt removes one.
  std::map<std::string, std::optional<std::string>> annotations;
  std::optional<bool> unschedulable;
  bool empty() const { return annotations.empty() && !unschedulable; }
};

// The JSON merge patch for `patch`, with resource_version as precondition
// (metadata.resourceVersion; left out when empty: unconditional).
std::string EncodeNodePatch(const NodePatch& patch, const std::string& resource_version);

// True when resourceVersion `a` is newer than `b` (numeric when both parse,
// which every etcd-backed server gives; false for opaque versions, so the
// informer is trusted then).
bool NewerResourceVersion(const std::string& a, const std::string& b);

class NodeWriter {
 public:
  virtual ~NodeWriter() = default;

  // Merge-patches node `name` with `patch`; conditional on resource_version
  // when it is not empty. Returns the node as the server wrote it (nullptr
  // when its answer could not be decoded: the informer's copy then serves).
  // A conditional write joins the view: its result on success; on
  // kConflict the node as the server holds it now, read again (client-go's
  // RetryOnConflict), so the caller's next decision is on that copy
  // (nothing is written on the strength of that read alone). Unconditional
  // writes leave the view alone.
  virtual Result<std::shared_ptr<const kube::Node>> Patch(const std::string& name,
                                                          const NodePatch& patch,
                                                          const std::string& resource_version) = 0;

  // Sends an RFC 6902 JSON patch (a JSON array) to node `name`. A failed
  // `test` operation (HTTP 422) is kConflict: re-read and decide again.
  virtual Status PatchJson(const std::string& name, const std::string& json_patch) = 0;

  // `nodes`: the informer's copies of every node there is. Replaces each by
  // the view's copy when that is newer, and forgets the view's copies the
  // informer has caught up with or whose node is not among `nodes` (deleted).
  virtual void Freshen(std::vector<std::shared_ptr<const kube::Node>>& nodes) = 0;
};

}  // namespace nodeguard::writes
