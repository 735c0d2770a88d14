#include "early/scrape.h"

#include <algorithm>
#include <cctype>

namespace nodeguard::early {

namespace {

bool MentionsTls(std::string_view message) {
  std::string lower(message);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view word : {"tls", "ssl", "certificate", "handshake"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

const char* ScrapeFailureName(ScrapeFailure f) {
  switch (f) {
    case ScrapeFailure::kNone:
      return "None";
    case ScrapeFailure::kCancelled:
      return "Cancelled";
    case ScrapeFailure::kNoToken:
      return "NoToken";
    case ScrapeFailure::kTimeout:
      return "Timeout";
    case ScrapeFailure::kTls:
      return "TLS";
    case ScrapeFailure::kUnreachable:
      return "Unreachable";
    case ScrapeFailure::kUnauthorized:
      return "Unauthorized";
    case ScrapeFailure::kForbidden:
      return "Forbidden";
    case ScrapeFailure::kHttpStatus:
      return "HTTPStatus";
    case ScrapeFailure::kTooLarge:
      return "TooLarge";
    case ScrapeFailure::kTruncated:
      return "Truncated";
    case ScrapeFailure::kUnparsable:
      return "Unparsable";
  }
  return "None";
}

const std::vector<ScrapeFailure>& CountedScrapeFailures() {
  static const std::vector<ScrapeFailure> kAll = {
      ScrapeFailure::kNoToken,     ScrapeFailure::kTimeout,      ScrapeFailure::kTls,
      ScrapeFailure::kUnreachable, ScrapeFailure::kUnauthorized, ScrapeFailure::kForbidden,
      ScrapeFailure::kHttpStatus,  ScrapeFailure::kTooLarge,     ScrapeFailure::kTruncated,
      ScrapeFailure::kUnparsable};
  return kAll;
}

ScrapeFailure ClassifyScrape(const ScrapeAttempt& a) {
  if (a.transport_error) {
    switch (*a.transport_error) {
      case ErrorKind::kCancelled:
        return ScrapeFailure::kCancelled;
      case ErrorKind::kUnauthorized:
        return ScrapeFailure::kNoToken;
      case ErrorKind::kTimeout:
        return ScrapeFailure::kTimeout;
      default:
        return MentionsTls(a.transport_message) ? ScrapeFailure::kTls : ScrapeFailure::kUnreachable;
    }
  }
  if (a.status == 401) return ScrapeFailure::kUnauthorized;
  if (a.status == 403) return ScrapeFailure::kForbidden;
  if (a.status != 200) return ScrapeFailure::kHttpStatus;
  if (a.body_over_limit) return ScrapeFailure::kTooLarge;
  if (a.parse_failed) {
    return a.body_ends_with_newline ? ScrapeFailure::kUnparsable : ScrapeFailure::kTruncated;
  }
  return ScrapeFailure::kNone;
}

std::optional<size_t> PickBaseline(const std::deque<WallTime>& kept, WallTime now,
                                   Duration window) {
  if (kept.empty()) return std::nullopt;
  std::optional<size_t> newest_old_enough;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (now - kept[i] >= window) newest_old_enough = i;
  }
  return newest_old_enough.value_or(0);
}

std::optional<PlegFigures> PendingScrapeFigures(Duration pending, const Thresholds& thresholds) {
  if (pending <= thresholds.calm_last_seen) return std::nullopt;
  PlegFigures f;
  const double seconds = std::chrono::duration<double>(pending).count();
  f.last_seen_age_seconds = seconds;
  f.scrape_pending_seconds = seconds;
  return f;
}

std::optional<uint64_t> LogGate::Admit(std::string_view kind, MonoTime now) {
  auto it = entries_.find(kind);
  if (it == entries_.end()) {
    entries_.emplace(std::string(kind), Entry{now, 0});
    return 0;
  }
  if (now - it->second.logged_at < every_) {
    ++it->second.suppressed;
    return std::nullopt;
  }
  const uint64_t suppressed = it->second.suppressed;
  it->second = Entry{now, 0};
  return suppressed;
}

}  // namespace nodeguard::early
