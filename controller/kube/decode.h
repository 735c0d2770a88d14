#pragma once

// Decoding of API server JSON straight into the slim structs of objects.h:
// single objects, *List bodies (one page of a paginated list), watch events
// and metav1.Status error bodies. Uses simdjson on-demand, so bytes the
// structs do not need (managedFields, most of spec and status) are skipped,
// never materialised.
//
// Every function is total: malformed or truncated JSON, wrong types and
// invalid values (a bad quantity or timestamp) yield an Error of kind
// kInvalid, never an exception or a crash. Unknown fields are skipped.
// Thread-safe: each thread reuses its own parser.
//
// The templates are specialised for Node, Pod and Lease below. To decode
// another type T: declare the three specialisations for T in its header,
// specialise json::ObjectDecoder<T> (decode_json.h) in a .cpp file and define
// them there with NODEGUARD_KUBE_INSTANTIATE_DECODERS(T).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "kube/objects.h"

namespace nodeguard::kube {

// One page of a list: GET /api/v1/pods?limit=500 returns a PodList.
template <typename T>
struct ObjectList {
  std::vector<T> items;
  std::string resource_version;  // metadata.resourceVersion: the snapshot to watch from.
  std::string continue_token;    // metadata.continue: empty on the last page.
  // Items that parsed as JSON but held invalid values (a malformed quantity,
  // timestamp or taint effect) are dropped rather than failing the whole
  // page, so one bad object cannot blind an informer to all the others.
  int64_t skipped_items = 0;
  std::string first_skip_reason;
};

enum class WatchEventType : uint8_t { kAdded, kModified, kDeleted, kBookmark, kError };
const char* WatchEventTypeName(WatchEventType type);

// One line of a watch stream: {"type":"ADDED","object":{...}}.
template <typename T>
struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  // Set for kAdded, kModified and kDeleted (for kDeleted: the last state).
  T object{};
  // The object's metadata.resourceVersion; for kBookmark the bookmark's,
  // the only field a bookmark carries. Empty for kError.
  std::string resource_version;
  // Set for kError: the event's Status as an Error (410 Expired -> kGone).
  Error error;
};

// REQUIRES for all: `json` is one complete JSON document.
template <typename T>
Result<T> DecodeObject(std::string_view json);
template <typename T>
Result<ObjectList<T>> DecodeList(std::string_view json);
template <typename T>
Result<WatchEvent<T>> DecodeWatchEvent(std::string_view json);

// The Error an API server response means: `body` is usually a metav1.Status
// ({"kind":"Status","code":409,"reason":"Conflict","message":...,
// "details":{"retryAfterSeconds":1}}) and wins over `http_status` when it
// carries a code; a body that is not a Status (a proxy's HTML page) still
// yields an Error from `http_status`, its text in the message (truncated).
Error DecodeStatus(std::string_view body, int http_status);

// Maps an HTTP status and a Status.reason to the coarse kind callers branch
// on: 409+AlreadyExists -> kAlreadyExists, 410 or reason Expired/Gone ->
// kGone, 429 -> kTooManyRequests, 5xx -> kUnavailable, 504/Timeout -> kTimeout...
ErrorKind ErrorKindForStatus(int http_status, std::string_view reason);

// Defined in decode_node.cpp, decode_pod.cpp and decode.cpp.
template <>
Result<Node> DecodeObject<Node>(std::string_view json);
template <>
Result<Pod> DecodeObject<Pod>(std::string_view json);
template <>
Result<Lease> DecodeObject<Lease>(std::string_view json);
template <>
Result<ObjectList<Node>> DecodeList<Node>(std::string_view json);
template <>
Result<ObjectList<Pod>> DecodeList<Pod>(std::string_view json);
template <>
Result<ObjectList<Lease>> DecodeList<Lease>(std::string_view json);
template <>
Result<WatchEvent<Node>> DecodeWatchEvent<Node>(std::string_view json);
template <>
Result<WatchEvent<Pod>> DecodeWatchEvent<Pod>(std::string_view json);
template <>
Result<WatchEvent<Lease>> DecodeWatchEvent<Lease>(std::string_view json);

inline Result<Node> DecodeNode(std::string_view json) { return DecodeObject<Node>(json); }
inline Result<Pod> DecodePod(std::string_view json) { return DecodeObject<Pod>(json); }
inline Result<Lease> DecodeLease(std::string_view json) { return DecodeObject<Lease>(json); }

}  // namespace nodeguard::kube
