#pragma once

// Count-or-percent values as Kubernetes intstr.IntOrString carries them in
// fields such as maxUnavailable: either an absolute count (70) or a percent of
// some total ("90%"). Shared by the API decoding and every decision that
// resolves such a value against a node or pod count.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace nodeguard {

// An absolute count, or a percent of a total resolved later.
struct IntOrPercent {
  int64_t value = 0;
  bool percent = false;

  static IntOrPercent Count(int64_t n) { return {n, false}; }
  static IntOrPercent Percent(int64_t p) { return {p, true}; }

  // The count this value stands for against `total`, as Kubernetes'
  // intstr.GetScaledValueFromIntOrPercent computes it: a count is returned
  // unchanged; a percent is value * total / 100, rounded up when `round_up`
  // (never lets a non-zero percent of a non-zero total resolve to 0) and down
  // otherwise (the conservative choice for thresholds that allow something).
  // Each field's documentation names the rounding it uses.
  int64_t Resolve(int64_t total, bool round_up) const;

  // Resolve clamped into int's range, for budgets kept as int: a count above
  // INT_MAX (which the CRD and api::Validate reject, but a policy that
  // bypassed admission may carry) stays INT_MAX instead of wrapping negative
  // through a narrowing cast.
  int ResolveInt(int64_t total, bool round_up) const;

  // "70" or "90%": the form the API server stores for the field.
  std::string ToString() const;

  friend bool operator==(const IntOrPercent&, const IntOrPercent&) = default;
};

// Parses the string form of an int-or-string field: "90%" (a percent), or a
// decimal count "70" (intstr accepts digits in a string too). Negative values
// and anything else are kInvalid. Percent values above 100 are returned as is;
// bounds belong to the caller's validation.
Result<IntOrPercent> ParseIntOrPercent(std::string_view text);

}  // namespace nodeguard
