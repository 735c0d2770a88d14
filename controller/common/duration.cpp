#include "common/duration.h"

#include <cstdint>
#include <limits>

namespace nodeguard {
namespace {

struct Unit {
  std::string_view name;
  int64_t nanos;
};

// Longest names first so "ms" is not read as "m" followed by garbage.
constexpr Unit kUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // U+00B5 micro sign
    {"\xCE\xBCs", 1'000},  // U+03BC Greek mu
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
};

Error Malformed(std::string_view text, std::string_view why) {
  return Error::Invalid("invalid duration \"" + std::string(text) + "\": " + std::string(why));
}

}  // namespace

Result<Duration> ParseGoDuration(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Duration(0);
  if (s.empty()) return Malformed(text, "empty");

  // Accumulate in unsigned 64 bits like Go, failing on overflow past int64.
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t total = 0;
  while (!s.empty()) {
    uint64_t whole = 0;
    size_t digits = 0;
    while (!s.empty() && s[0] >= '0' && s[0] <= '9') {
      if (whole > (kMax - static_cast<uint64_t>(s[0] - '0')) / 10)
        return Malformed(text, "overflow");
      whole = whole * 10 + static_cast<uint64_t>(s[0] - '0');
      s.remove_prefix(1);
      ++digits;
    }
    // Fraction: keep up to 18 digits, which is enough for nanosecond units.
    uint64_t frac = 0;
    uint64_t frac_scale = 1;
    bool had_dot = false;
    if (!s.empty() && s[0] == '.') {
      had_dot = true;
      s.remove_prefix(1);
      while (!s.empty() && s[0] >= '0' && s[0] <= '9') {
        if (frac_scale < 1'000'000'000'000'000'000ULL) {
          frac = frac * 10 + static_cast<uint64_t>(s[0] - '0');
          frac_scale *= 10;
        }
        s.remove_prefix(1);
        ++digits;
      }
    }
    if (digits == 0) return Malformed(text, had_dot ? "no digits around '.'" : "expected a number");

    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (s.substr(0, u.name.size()) == u.name &&
          (unit == nullptr || u.name.size() > unit->name.size())) {
        unit = &u;
      }
    }
    if (unit == nullptr) {
      return Malformed(text,
                       s.empty() ? "missing unit" : "unknown unit in \"" + std::string(s) + "\"");
    }
    s.remove_prefix(unit->name.size());

    const uint64_t per = static_cast<uint64_t>(unit->nanos);
    if (whole > kMax / per) return Malformed(text, "overflow");
    uint64_t value = whole * per;
    // frac/frac_scale * per, computed without overflowing: per <= 3.6e12 and
    // frac_scale <= 1e18, so split per to keep intermediates in range.
    long double fractional = static_cast<long double>(frac) * static_cast<long double>(per) /
                             static_cast<long double>(frac_scale);
    value += static_cast<uint64_t>(fractional);
    if (value > kMax || total > kMax - value) return Malformed(text, "overflow");
    total += value;
  }
  const auto signed_total = static_cast<int64_t>(total);
  return Duration(negative ? -signed_total : signed_total);
}

std::string FormatGoDuration(Duration d) {
  int64_t n = d.count();
  if (n == 0) return "0s";
  std::string sign;
  uint64_t u;
  if (n < 0) {
    sign = "-";
    u = static_cast<uint64_t>(-(n + 1)) + 1;
  } else {
    u = static_cast<uint64_t>(n);
  }
  // Below one second Go uses the largest sub-second unit that keeps an integer part.
  auto fixed = [](uint64_t value, uint64_t scale) {
    std::string out = std::to_string(value / scale);
    uint64_t rest = value % scale;
    if (rest != 0) {
      std::string f = std::to_string(rest + scale).substr(1);  // zero-padded
      while (!f.empty() && f.back() == '0') f.pop_back();
      out += "." + f;
    }
    return out;
  };
  if (u < 1'000) return sign + std::to_string(u) + "ns";
  if (u < 1'000'000) return sign + fixed(u, 1'000) + "\xC2\xB5s";
  if (u < 1'000'000'000) return sign + fixed(u, 1'000'000) + "ms";
  std::string out = sign;
  uint64_t hours = u / 3'600'000'000'000ULL;
  u %= 3'600'000'000'000ULL;
  uint64_t minutes = u / 60'000'000'000ULL;
  u %= 60'000'000'000ULL;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  out += fixed(u, 1'000'000'000) + "s";
  return out;
}

}  // namespace nodeguard
