// Fuzzes resource.Quantity parsing. Property: the two scales agree, i.e.
// Value() == ceil(MilliValue() / 1000) away from zero, whenever both fit.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/quantity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto value = nodeguard::ParseQuantity(text);
  auto milli = nodeguard::ParseQuantityMilli(text);
  if (milli.ok() && !value.ok()) std::abort();  // Milli overflows first, never the reverse.
  if (value.ok() && milli.ok()) {
    int64_t m = *milli;
    int64_t magnitude = m < 0 ? -(m / 1000) : m / 1000;
    if (m % 1000 != 0) ++magnitude;
    int64_t expected = m < 0 ? -magnitude : magnitude;
    if (*value != expected) std::abort();
  }
  return 0;
}
