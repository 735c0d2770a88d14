#include "health/pleg.h"

#include <string_view>

namespace nodeguard::health {
namespace {

constexpr std::string_view kPlegUnhealthy = "PLEG is not healthy";
constexpr std::string_view kLastSeenActive = "pleg was last seen active ";
constexpr std::string_view kAgo = " ago";
constexpr std::string_view kThreshold = "threshold is ";
constexpr std::string_view kNeverSucceeded = "pleg has yet to be successful";
constexpr std::string_view kRuntimeDown = "container runtime is down";
constexpr std::string_view kRuntimePending =
    "container runtime status check may not have completed yet";

bool IsDurationChar(char c) {
  // Digits, '.', '+', '-', and the unit letters of ns/us/ms/s/m/h, plus the
  // UTF-8 bytes of the micro sign (0xC2 0xB5) and Greek mu (0xCE 0xBC).
  const auto u = static_cast<unsigned char>(c);
  return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'n' || c == 'u' ||
         c == 'm' || c == 's' || c == 'h' || u == 0xC2 || u == 0xB5 || u == 0xCE || u == 0xBC;
}

// Reads a Go duration at the start of `s`, stopping at the first character
// that cannot belong to one. A trailing '.' is the end of a sentence
// (". WARNING: ..."), not a fraction.
std::optional<Duration> ReadDuration(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && IsDurationChar(s[n])) ++n;
  std::string_view token = s.substr(0, n);
  while (!token.empty() && token.back() == '.') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  auto parsed = ParseGoDuration(token);
  if (!parsed.ok()) return std::nullopt;
  return *parsed;
}

}  // namespace

PlegReport ClassifyReadyMessage(std::string_view message) {
  PlegReport report;
  report.runtime_down = message.find(kRuntimeDown) != std::string_view::npos;
  report.runtime_status_pending = message.find(kRuntimePending) != std::string_view::npos;

  const size_t pleg = message.find(kPlegUnhealthy);
  if (pleg == std::string_view::npos) return report;
  report.pleg_unhealthy = true;

  // The details belong to this PLEG error: search only after its phrase.
  const std::string_view rest = message.substr(pleg + kPlegUnhealthy.size());
  if (rest.find(kNeverSucceeded) != std::string_view::npos &&
      rest.find(kNeverSucceeded) < rest.find(kLastSeenActive)) {
    report.never_succeeded = true;
    return report;
  }
  const size_t seen = rest.find(kLastSeenActive);
  if (seen == std::string_view::npos) return report;
  const std::string_view after_seen = rest.substr(seen + kLastSeenActive.size());
  const size_t ago = after_seen.find(kAgo);
  if (ago != std::string_view::npos) {
    // The whole text up to " ago" must be the duration.
    auto elapsed = ParseGoDuration(after_seen.substr(0, ago));
    if (elapsed.ok()) report.last_seen_active = *elapsed;
    const std::string_view after_ago = after_seen.substr(ago + kAgo.size());
    // "; threshold is 3m0s" directly follows " ago".
    const size_t threshold = after_ago.find(kThreshold);
    if (threshold != std::string_view::npos && threshold <= 2) {
      report.threshold = ReadDuration(after_ago.substr(threshold + kThreshold.size()));
    }
  }
  return report;
}

}  // namespace nodeguard::health
