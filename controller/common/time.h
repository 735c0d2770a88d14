#pragma once

// RFC 3339 timestamps as Kubernetes writes them: metav1.Time
// ("2026-11-27T14:31:39Z") and metav1.MicroTime ("2026-11-27T14:31:39.123456Z").

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace nodeguard {

// Accepts "Z" or a numeric offset, and any number of fractional digits
// (truncated to microseconds).
Result<WallTime> ParseRfc3339(std::string_view text);

// "2026-11-27T14:31:39Z": second precision, as metav1.Time serialises.
std::string FormatRfc3339(WallTime t);
// "2026-11-27T14:31:39.123456Z": microseconds, as metav1.MicroTime serialises.
std::string FormatRfc3339Micro(WallTime t);

}  // namespace nodeguard
