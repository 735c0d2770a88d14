// Fuzzes the watch framer, and the event decoder behind it, as the informer
// uses them. The first two bytes choose chunk sizes and the event size limit;
// the rest is the stream. Property: however the stream is chunked, the
// framer yields the same events (or the same refusal) as for one chunk.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kube/decode.h"
#include "kube/watch_framer.h"

namespace {

struct Framed {
  std::vector<std::string> events;
  bool ok = true;
  size_t buffered = 0;
};

Framed Frame(std::string_view stream, size_t max_event, const std::vector<size_t>& cuts) {
  nodeguard::kube::WatchFramer framer(max_event);
  Framed out;
  size_t start = 0;
  auto feed = [&](std::string_view chunk) {
    if (!out.ok) return;
    nodeguard::Status s = framer.Feed(chunk, [&](std::string_view event) {
      out.events.emplace_back(event);
      (void)nodeguard::kube::DecodeWatchEvent<nodeguard::kube::Pod>(event);
      return nodeguard::Status::Ok();
    });
    out.ok = s.ok();
  };
  for (size_t cut : cuts) {
    feed(stream.substr(start, cut - start));
    start = cut;
  }
  feed(stream.substr(start));
  out.buffered = framer.buffered();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t step = 1 + data[0] % 64;
  size_t max_event = 16 + static_cast<size_t>(data[1]) * 64;
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  Framed whole = Frame(stream, max_event, {});
  std::vector<size_t> cuts;
  for (size_t cut = step; cut < stream.size(); cut += step) cuts.push_back(cut);
  Framed chunked = Frame(stream, max_event, cuts);

  if (whole.ok != chunked.ok) std::abort();
  if (whole.ok && (whole.events != chunked.events || whole.buffered != chunked.buffered)) {
    std::abort();
  }
  for (const std::string& event : whole.events) {
    if (event.empty() || event.size() > max_event || event.find('\n') != std::string::npos) {
      std::abort();
    }
  }
  return 0;
}
