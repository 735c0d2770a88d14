#pragma once

// The seam between an Informer and the API server: list a collection, then
// watch it from the list's resourceVersion. RestListWatcher (rest.h) is the
// real implementation; unit tests substitute scripted ones.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "kube/http.h"

namespace nodeguard::kube {

// Identifies a collection: "/api/v1/pods", "/apis/nodeguard.io/v1alpha1/nodehealthpolicies".
struct ResourcePath {
  std::string group_version_prefix;  // "/api/v1" or "/apis/<group>/<version>".
  std::string resource;              // Plural: "pods", "nodes".
  std::string namespace_;            // Empty: all namespaces or cluster-scoped.

  std::string CollectionPath() const;  // e.g. "/api/v1/namespaces/ns/pods".
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 500;  // Page size; 0 = unpaginated.
  std::string continue_token;
  std::string resource_version;  // "" = most recent (quorum read).
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // Resume point.
  bool allow_bookmarks = true;
  std::chrono::seconds timeout{300};                                 // Server-side timeoutSeconds.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(90)};  // Stalled stream.
};

class ListWatcher {
 public:
  virtual ~ListWatcher() = default;

  // One page of a list: the raw JSON body of a *List object, or an Error
  // (kGone when the continue token expired).
  virtual Result<std::string> ListPage(const ListOptions& options) = 0;

  // Streams newline-delimited watch events (raw JSON bytes, arbitrarily split
  // into chunks) to on_chunk until the server closes the stream (Ok), an error
  // occurs (kGone for 410, kUnavailable/kTimeout for transport), or cancel fires.
  virtual Status Watch(const WatchOptions& options, const ChunkHandler& on_chunk,
                       const CancelToken& cancel) = 0;
};

}  // namespace nodeguard::kube
