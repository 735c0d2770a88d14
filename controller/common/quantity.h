#pragma once

// Kubernetes resource.Quantity strings ("8", "7500m", "32Gi", "1.5", "1e3",
// "500M", "0.5Ki") as the API server writes them in requests, limits, node
// capacity and allocatable, converted to canonical integers.

#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace nodeguard {

// Accepts the resource.Quantity grammar:
//   [+-] (digits | digits "." | digits "." digits | "." digits) [suffix]
//   suffix: Ki Mi Gi Ti Pi Ei | m k M G T P E | (e|E) [+-] digits
// Returns ceil(value), rounding fractions away from zero exactly as
// Quantity.Value() does: "100m" -> 1, "0.5Ki" -> 512, "1.5" -> 2.
// Memory, storage and pod counts use this (bytes, counts).
// Errors (kInvalid): empty or malformed text, trailing garbage, or a value
// outside int64.
Result<int64_t> ParseQuantity(std::string_view text);

// Returns ceil(value * 1000) as Quantity.MilliValue() does: "1.5" -> 1500,
// "7500m" -> 7500, "0.1m" -> 1. CPU is kept in millicores.
Result<int64_t> ParseQuantityMilli(std::string_view text);

}  // namespace nodeguard
