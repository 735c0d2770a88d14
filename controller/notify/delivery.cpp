#include "notify/delivery.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>

namespace nodeguard::notify {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<WallTime> ParseImfFixdate(std::string_view s) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s.substr(25) != " GMT") return std::nullopt;
  auto num = [&](size_t pos, size_t len) -> std::optional<int> {
    int v = 0;
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, v);
    if (ec != std::errc() || p != s.data() + pos + len) return std::nullopt;
    return v;
  };
  auto day = num(5, 2), year = num(12, 4), hh = num(17, 2), mm = num(20, 2), ss = num(23, 2);
  if (!day || !year || !hh || !mm || !ss || s[16] != ' ' || s[19] != ':' || s[22] != ':') {
    return std::nullopt;
  }
  int month = -1;
  for (int i = 0; i < 12; ++i) {
    if (s.substr(8, 3) == kMonths[i]) month = i;
  }
  if (month < 0 || *day < 1 || *day > 31 || *hh > 23 || *mm > 59 || *ss > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = *day;
  tm.tm_hour = *hh;
  tm.tm_min = *mm;
  tm.tm_sec = *ss;
  const time_t t = timegm(&tm);
  return std::chrono::system_clock::from_time_t(t);
}

}  // namespace

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kSent:
      return "sent";
    case Decision::kRetry:
      return "retry";
    case Decision::kGiveUp:
      return "give_up";
  }
  return "unknown";
}

std::optional<Duration> ParseRetryAfter(std::string_view value, WallTime now) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    int64_t seconds = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || p != value.data() + value.size()) return std::nullopt;
    seconds = std::min<int64_t>(seconds, int64_t{365} * 24 * 3600);
    return std::chrono::seconds(seconds);
  }
  auto at = ParseImfFixdate(value);
  if (!at) return std::nullopt;
  if (*at <= now) return Duration(0);
  return std::chrono::duration_cast<Duration>(*at - now);
}

Duration BackoffDelay(const DeliveryOptions& o, int attempts, double uniform01) {
  const double initial = std::chrono::duration<double>(o.initial_backoff).count();
  const double max = std::chrono::duration<double>(o.max_backoff).count();
  const int exponent = std::clamp(attempts - 1, 0, 62);
  double base = std::min(max, initial * std::pow(o.factor, exponent));
  const double u = std::clamp(uniform01, 0.0, 1.0);
  double delay = base * (1.0 + o.jitter * u);
  if (delay > max) delay = max * (1.0 - o.jitter * u);
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(delay));
}

Verdict DecideAfterAttempt(const DeliveryOptions& o, const AttemptResult& r, int attempts,
                           Duration age, WallTime now, double uniform01) {
  const int s = r.http_status;
  if (s >= 200 && s < 300) return {Decision::kSent, Duration(0), "ok", "ok"};
  Verdict v;
  if (s == 429) {
    v.reason = "http_429";
    auto after = ParseRetryAfter(r.retry_after, now);
    v.wait = after ? std::min<Duration>(*after, o.max_retry_after)
                   : BackoffDelay(o, attempts, uniform01);
  } else if (s == 0 || s >= 500 || s == 408) {
    v.reason = s == 0 ? (r.tls ? "tls" : "network") : (s == 408 ? "http_408" : "http_5xx");
    v.wait = BackoffDelay(o, attempts, uniform01);
  } else {
    const char* why = s >= 400 && s < 500 ? "http_4xx" : "http_other";
    return {Decision::kGiveUp, Duration(0), why, why};
  }
  v.cause = v.reason;
  if (attempts >= o.max_attempts) return {Decision::kGiveUp, Duration(0), "max_attempts", v.cause};
  if (age + v.wait > o.max_age) return {Decision::kGiveUp, Duration(0), "max_age", v.cause};
  v.decision = Decision::kRetry;
  return v;
}

std::string FailureReason(const Verdict& v) { return v.reason == "max_age" ? v.reason : v.cause; }

bool SinkHealth::Record(std::string_view sink, std::string_view outcome, std::string_view reason) {
  if (outcome == "sent") {
    auto it = by_sink_.find(sink);
    if (it == by_sink_.end()) return false;
    const bool was_failing = it->second.consecutive >= kFailingAfter;
    by_sink_.erase(it);
    return was_failing;
  }
  if (outcome != "failed") return false;
  auto it = by_sink_.find(sink);
  if (it == by_sink_.end()) it = by_sink_.emplace(std::string(sink), FailingSink{}).first;
  FailingSink& f = it->second;
  f.name = std::string(sink);
  f.reason = std::string(reason);
  ++f.consecutive;
  return f.consecutive == kFailingAfter;
}

std::vector<FailingSink> SinkHealth::Failing() const {
  std::vector<FailingSink> out;
  for (const auto& [name, f] : by_sink_) {
    if (f.consecutive >= kFailingAfter) out.push_back(f);
  }
  return out;
}

}  // namespace nodeguard::notify
