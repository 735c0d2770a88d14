#include "common/quantity.h"

#include <cstdint>
#include <limits>
#include <string>

namespace nodeguard {
namespace {

__extension__ typedef unsigned __int128 u128;  // GCC/Clang builtin; -Wpedantic needs the marker.

// More significant digits than fit in a uint64 cannot change an int64 result
// except through rounding, which the sticky flag preserves.
constexpr int kMaxSignificantDigits = 19;
constexpr int kMaxExponent = 1000;  // |e| beyond this is out of range or rounds to 1.

// The exact value is sign * (mantissa + sticky fraction) * 10^exp10 * 2^exp2.
struct Decimal {
  bool negative = false;
  uint64_t mantissa = 0;
  bool sticky = false;  // Nonzero digits were dropped below the mantissa.
  int exp10 = 0;
  int exp2 = 0;
};

Error Malformed(std::string_view text, const char* why) {
  return Error::Invalid("invalid quantity \"" + std::string(text) + "\": " + why);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Result<Decimal> Parse(std::string_view s) {
  Decimal d;
  size_t pos = 0;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    d.negative = s[pos] == '-';
    ++pos;
  }
  int significant = 0;
  int digits = 0;
  auto take_digit = [&](char c, bool fractional) {
    ++digits;
    if (significant == 0 && c == '0') {
      if (fractional) --d.exp10;
      return;
    }
    if (significant < kMaxSignificantDigits) {
      d.mantissa = d.mantissa * 10 + static_cast<uint64_t>(c - '0');
      ++significant;
      if (fractional) --d.exp10;
    } else {
      if (c != '0') d.sticky = true;
      if (!fractional) ++d.exp10;  // A dropped integer digit still scales the value.
    }
  };
  while (pos < s.size() && IsDigit(s[pos])) take_digit(s[pos++], false);
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && IsDigit(s[pos])) take_digit(s[pos++], true);
  }
  if (digits == 0) return Malformed(s, "no digits");

  std::string_view suffix = s.substr(pos);
  if (suffix.empty()) return d;
  if (suffix.size() == 2 && suffix[1] == 'i') {
    static constexpr std::string_view kBinary = "KMGTPE";
    size_t k = kBinary.find(suffix[0]);
    if (k == std::string_view::npos) return Malformed(s, "unknown binary suffix");
    d.exp2 = 10 * static_cast<int>(k + 1);
    return d;
  }
  if (suffix.size() == 1) {
    switch (suffix[0]) {
      case 'n':
        d.exp10 -= 9;
        return d;
      case 'u':
        d.exp10 -= 6;
        return d;
      case 'm':
        d.exp10 -= 3;
        return d;
      case 'k':
        d.exp10 += 3;
        return d;
      case 'M':
        d.exp10 += 6;
        return d;
      case 'G':
        d.exp10 += 9;
        return d;
      case 'T':
        d.exp10 += 12;
        return d;
      case 'P':
        d.exp10 += 15;
        return d;
      case 'E':
        d.exp10 += 18;
        return d;
      default:
        return Malformed(s, "unknown suffix");
    }
  }
  if (suffix[0] != 'e' && suffix[0] != 'E') return Malformed(s, "unknown suffix");
  size_t epos = 1;
  bool eneg = false;
  if (epos < suffix.size() && (suffix[epos] == '+' || suffix[epos] == '-')) {
    eneg = suffix[epos] == '-';
    ++epos;
  }
  if (epos == suffix.size()) return Malformed(s, "exponent has no digits");
  int exponent = 0;
  for (; epos < suffix.size(); ++epos) {
    if (!IsDigit(suffix[epos])) return Malformed(s, "exponent is not an integer");
    if (exponent < kMaxExponent) exponent = exponent * 10 + (suffix[epos] - '0');
  }
  d.exp10 += eneg ? -exponent : exponent;
  return d;
}

u128 Pow10(int n) {  // REQUIRES: 0 <= n <= 38.
  u128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

// ceil(|value| * 10^scale), with the sign applied afterwards.
Result<int64_t> Scaled(std::string_view text, int scale) {
  auto parsed = Parse(text);
  if (!parsed.ok()) return parsed.error();
  Decimal d = *parsed;
  if (d.mantissa == 0) return int64_t{0};  // sticky needs a nonzero mantissa.
  constexpr u128 kMax = std::numeric_limits<int64_t>::max();
  int exp10 = d.exp10 + scale;
  u128 magnitude = 0;
  if (exp10 >= 0) {
    // mantissa >= 1, so 10^19 alone already exceeds int64.
    if (exp10 > 19) return Malformed(text, "out of range");
    magnitude = u128{d.mantissa} * Pow10(exp10);
    if (magnitude > kMax) return Malformed(text, "out of range");
    magnitude <<= d.exp2;  // < 2^63 * 2^60 fits in 128 bits.
    if (d.sticky) magnitude += 1;
  } else {
    u128 numerator = u128{d.mantissa} << d.exp2;  // < 2^64 * 2^60.
    if (-exp10 > 38) {
      magnitude = 1;  // numerator < 2^124 < 10^38: a nonzero fraction of one unit.
    } else {
      u128 divisor = Pow10(-exp10);
      magnitude = numerator / divisor;
      if (numerator % divisor != 0 || d.sticky) magnitude += 1;
    }
  }
  if (magnitude > kMax) return Malformed(text, "out of range");
  int64_t v = static_cast<int64_t>(magnitude);
  return d.negative ? -v : v;
}

}  // namespace

Result<int64_t> ParseQuantity(std::string_view text) { return Scaled(text, 0); }

Result<int64_t> ParseQuantityMilli(std::string_view text) { return Scaled(text, 3); }

}  // namespace nodeguard
