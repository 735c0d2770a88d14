// Fuzzes the Prometheus text exposition parser and the PLEG figures computed
// from what it returns. Properties: no crash, no unbounded growth; a body it
// accepts keeps at most max_samples samples, only of wanted families; the
// figures of two accepted bodies never hold a negative window count or age.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "early/exposition.h"
#include "early/figures.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nodeguard::early;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseLimits limits;
  limits.max_samples = 512;
  limits.max_line_bytes = 4096;
  auto r = ParseExposition(text, PlegFamilies(), limits);
  if (!r.ok()) {
    if (r.error().message.empty()) std::abort();
    return 0;
  }
  size_t kept = 0;
  for (const Family& f : r->families) {
    bool wanted = false;
    for (const std::string& w : PlegFamilies()) wanted = wanted || w == f.name;
    if (!wanted) std::abort();
    kept += f.samples.size();
  }
  if (kept > limits.max_samples) std::abort();
  // The same body as both scrapes, and against an empty previous one.
  Exposition empty;
  nodeguard::WallTime t0{std::chrono::seconds(1'800'000'000)};
  for (const Exposition* previous : {&*r, &empty}) {
    PlegFigures f = ComputePlegFigures(previous, t0, *r, t0 + std::chrono::seconds(30));
    if (f.last_seen_age_seconds && !(*f.last_seen_age_seconds >= 0)) std::abort();
    if (f.relists < 0) std::abort();
  }
  return 0;
}
