#include "common/time.h"

#include <chrono>
#include <cstdio>

namespace nodeguard {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

Error Malformed(std::string_view text) {
  return Error::Invalid("invalid RFC 3339 time \"" + std::string(text) + "\"");
}

}  // namespace

Result<WallTime> ParseRfc3339(std::string_view s) {
  using namespace std::chrono;
  int year, month, day, hour, minute, second;
  if (s.size() < 20 || !Digits(s, 0, 4, year) || s[4] != '-' || !Digits(s, 5, 2, month) ||
      s[7] != '-' || !Digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, hour) || s[13] != ':' || !Digits(s, 14, 2, minute) || s[16] != ':' ||
      !Digits(s, 17, 2, second)) {
    return Malformed(s);
  }
  year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                     std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return Malformed(s);
  // WallTime counts nanoseconds in an int64: years outside [1678, 2261] overflow it.
  if (year < 1678 || year > 2261) return Malformed(s);

  size_t pos = 19;
  microseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t us = 0;
    int n = 0;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) {
        us = us * 10 + (s[pos] - '0');
        ++n;
      }
      ++pos;
    }
    if (pos == start) return Malformed(s);
    for (; n < 6; ++n) us *= 10;
    frac = microseconds(us);
  }
  seconds offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, om)) {
      return Malformed(s);
    }
    offset = hours(oh) + minutes(om);
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return Malformed(s);
  }
  if (pos != s.size()) return Malformed(s);

  sys_days days{ymd};
  auto t = days + hours(hour) + minutes(minute) + seconds(second) - offset;
  return WallTime(duration_cast<WallTime::duration>(t.time_since_epoch() + frac));
}

namespace {
std::string Format(WallTime t, bool micro) {
  using namespace std::chrono;
  auto us = time_point_cast<microseconds>(t);
  auto day_point = floor<days>(us);
  year_month_day ymd{day_point};
  hh_mm_ss hms{us - day_point};
  char buf[40];
  if (micro) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06ldZ", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                  int(hms.minutes().count()), int(hms.seconds().count()),
                  static_cast<long>(hms.subseconds().count()));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                  int(hms.minutes().count()), int(hms.seconds().count()));
  }
  return buf;
}
}  // namespace

std::string FormatRfc3339(WallTime t) { return Format(t, false); }
std::string FormatRfc3339Micro(WallTime t) { return Format(t, true); }

}  // namespace nodeguard
