#pragma once

// Go-style durations ("3m7.629592089s", "16h17m50.79s", "1h30m", "-5s") as the
// kubelet prints them in PLEG messages and as metav1.Duration fields carry them.

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace nodeguard {

using Duration = std::chrono::nanoseconds;

// Parses Go's time.ParseDuration syntax: an optional sign, then one or more
// decimal numbers (with optional fraction) each followed by a unit among
// ns, us, µs, ms, s, m, h. "0" alone is accepted. Overflow is an error.
Result<Duration> ParseGoDuration(std::string_view text);

// Formats like Go's Duration.String(): "1h2m3.5s", "150ms", "0s".
std::string FormatGoDuration(Duration d);

}  // namespace nodeguard
