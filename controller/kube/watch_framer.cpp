#include "kube/watch_framer.h"

#include <cstring>

namespace nodeguard::kube {
namespace {

bool IsBlank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

// A rare huge event should not pin its buffer for the life of the stream.
constexpr size_t kKeepBufferBytes = size_t{1} << 20;

Error TooLarge(size_t limit) {
  return Error::Invalid("watch event larger than " + std::to_string(limit) + " bytes");
}

}  // namespace

WatchFramer::WatchFramer(size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

Status WatchFramer::Deliver(std::string_view line, const LineHandler& handler) const {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (IsBlank(line)) return Status::Ok();
  if (line.size() > max_event_bytes_) return TooLarge(max_event_bytes_);
  return handler(line);
}

Status WatchFramer::Feed(std::string_view chunk, const LineHandler& handler) {
  while (!chunk.empty()) {
    const void* found = std::memchr(chunk.data(), '\n', chunk.size());
    if (found == nullptr) {
      if (partial_.size() + chunk.size() > max_event_bytes_) return TooLarge(max_event_bytes_);
      partial_.append(chunk);
      return Status::Ok();
    }
    size_t newline = static_cast<size_t>(static_cast<const char*>(found) - chunk.data());
    Status status;
    if (partial_.empty()) {
      // The common case: a whole event inside one chunk, delivered without a copy.
      status = Deliver(chunk.substr(0, newline), handler);
    } else {
      if (partial_.size() + newline > max_event_bytes_) return TooLarge(max_event_bytes_);
      partial_.append(chunk.substr(0, newline));
      status = Deliver(partial_, handler);
      partial_.clear();
      if (partial_.capacity() > kKeepBufferBytes) std::string().swap(partial_);
    }
    if (!status.ok()) return status;
    chunk.remove_prefix(newline + 1);
  }
  return Status::Ok();
}

}  // namespace nodeguard::kube
