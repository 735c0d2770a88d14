#include "common/int_or_percent.h"

#include <limits>

namespace nodeguard {

int64_t IntOrPercent::Resolve(int64_t total, bool round_up) const {
  if (!percent) return value;
  // Percents and totals are small in practice (<= 100, counts of nodes or
  // pods); saturate rather than overflow on absurd input.
  int64_t product = 0;
  if (__builtin_mul_overflow(value, total, &product)) {
    return (value < 0) == (total < 0) ? std::numeric_limits<int64_t>::max() / 100
                                      : std::numeric_limits<int64_t>::min() / 100;
  }
  int64_t result = product / 100;
  if (round_up && product > 0 && product % 100 != 0) ++result;
  return result;
}

int IntOrPercent::ResolveInt(int64_t total, bool round_up) const {
  const int64_t wide = Resolve(total, round_up);
  if (wide > std::numeric_limits<int>::max()) return std::numeric_limits<int>::max();
  if (wide < std::numeric_limits<int>::min()) return std::numeric_limits<int>::min();
  return static_cast<int>(wide);
}

std::string IntOrPercent::ToString() const { return std::to_string(value) + (percent ? "%" : ""); }

Result<IntOrPercent> ParseIntOrPercent(std::string_view text) {
  std::string_view digits = text;
  const bool is_percent = !digits.empty() && digits.back() == '%';
  if (is_percent) digits.remove_suffix(1);
  if (digits.empty() || digits.size() > 18) {
    return Error::Invalid("invalid count or percent \"" + std::string(text) +
                          "\": expected a non-negative integer or a percent such as \"90%\"");
  }
  int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return Error::Invalid("invalid count or percent \"" + std::string(text) +
                            "\": expected a non-negative integer or a percent such as \"90%\"");
    }
    value = value * 10 + (c - '0');
  }
  return IntOrPercent{value, is_percent};
}

}  // namespace nodeguard
