#pragma once

// Turns the chunks of a watch response body, split wherever the network
// split them, into whole events. The API server writes one JSON document per
// line; a chunk may hold part of an event, several events, or both.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace nodeguard::kube {

// Not thread-safe: one framer per stream.
class WatchFramer {
 public:
  // Events larger than this are refused: the API server caps objects at
  // about 3 MiB, so a longer line means a broken or hostile stream, and
  // buffering it without bound would exhaust memory.
  static constexpr size_t kDefaultMaxEventBytes = size_t{16} << 20;

  // Receives each complete event: one line of the stream, without its newline, never empty. The
  // view is valid only during the call. A non-ok Status stops Feed and is returned.
  using LineHandler = std::function<Status(std::string_view event)>;

  explicit WatchFramer(size_t max_event_bytes = kDefaultMaxEventBytes);

  // Appends a chunk and delivers every event it completes, in order. Blank
  // lines (and "\r" before "\n") are skipped. Returns the handler's first error,
  // or kInvalid when an event exceeds the limit; after an error the framer
  // must be Reset() before reuse.
  Status Feed(std::string_view chunk, const LineHandler& handler);

  // Bytes of an incomplete event held back for the next chunk. Non-zero when
  // a stream ends means its last event was cut off.
  size_t buffered() const { return partial_.size(); }

  // Drops any partial event (when a new stream starts).
  void Reset() { partial_.clear(); }

 private:
  Status Deliver(std::string_view line, const LineHandler& handler) const;

  size_t max_event_bytes_;
  std::string partial_;  // The start of an event whose newline has not arrived.
};

}  // namespace nodeguard::kube
