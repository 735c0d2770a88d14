// Fuzzes every JSON decoder with the same bytes: objects, lists, watch
// events and Status bodies. Properties: no crash, no exception, no sanitizer
// report; anything accepted is usable (a decoded object has a name).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kube/decode.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

template <typename T>
void DecodeAll(std::string_view json) {
  auto object = nodeguard::kube::DecodeObject<T>(json);
  if (object.ok()) Check(!object->meta.name.empty());
  auto list = nodeguard::kube::DecodeList<T>(json);
  if (list.ok()) {
    for (const T& item : list->items) Check(!item.meta.name.empty());
  }
  auto event = nodeguard::kube::DecodeWatchEvent<T>(json);
  if (event.ok() && (event->type == nodeguard::kube::WatchEventType::kAdded ||
                     event->type == nodeguard::kube::WatchEventType::kModified ||
                     event->type == nodeguard::kube::WatchEventType::kDeleted)) {
    Check(!event->object.meta.name.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view json(reinterpret_cast<const char*>(data), size);
  DecodeAll<nodeguard::kube::Pod>(json);
  DecodeAll<nodeguard::kube::Node>(json);
  DecodeAll<nodeguard::kube::Lease>(json);
  nodeguard::Error e = nodeguard::kube::DecodeStatus(json, 500);
  Check(e.http_status != 0);
  return 0;
}
