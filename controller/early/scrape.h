#pragma once

// The pure parts of the agent's scrape of its kubelet's /metrics
// (agent/kubelet_scrape.h does the I/O): what kind of failure an attempt was,
// which earlier scrape a new one is compared with, how a scrape the kubelet
// has not answered yet feeds DecideLevel, and when a failure is logged.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/result.h"
#include "early/figures.h"
#include "early/level.h"

namespace nodeguard::early {

// Why a scrape gave no figures; the `reason` label of
// nodeguard_agent_kubelet_scrape_failures_total.
enum class ScrapeFailure : uint8_t {
  kNone,
  kCancelled,     // The agent is shutting down (not counted as a failure).
  kNoToken,       // The service-account token file cannot be read.
  kTimeout,       // No answer within the scrape timeout, or the body stalled.
  kTls,           // The TLS handshake failed (the certificate did not verify).
  kUnreachable,   // Refused, reset, unresolvable: the kubelet does not listen.
  kUnauthorized,  // HTTP 401: the kubelet did not accept the token.
  kForbidden,     // HTTP 403: the token's account lacks get on nodes/metrics.
  kHttpStatus,    // Any other status than 200.
  kTooLarge,      // The body exceeded the maximum: refused, not parsed.
  kTruncated,     // The body does not end with a newline: cut off.
  kUnparsable,    // Not the text exposition format (an HTML page, garbage).
};
const char* ScrapeFailureName(ScrapeFailure f);
// Every failure kind that is counted (all but kNone and kCancelled).
const std::vector<ScrapeFailure>& CountedScrapeFailures();

// What one attempt produced, as the agent observed it.
struct ScrapeAttempt {
  std::optional<ErrorKind> transport_error;  // The request failed before a status.
  std::string transport_message;
  int status = 0;
  bool body_over_limit = false;
  bool body_ends_with_newline = true;
  bool parse_failed = false;
};

// The failure kind of an attempt (first matching row wins):
// clang-format off
//   row  when                                                       -> failure
//   1    transport error kCancelled                                 -> kCancelled
//   2    transport error kUnauthorized (no token to send)           -> kNoToken
//   3    transport error kTimeout                                   -> kTimeout
//   4    other transport error naming TLS/SSL/certificate/handshake -> kTls
//   5    other transport error                                      -> kUnreachable
//   6    status 401                                                 -> kUnauthorized
//   7    status 403                                                 -> kForbidden
//   8    status other than 200                                      -> kHttpStatus
//   9    body over the limit                                        -> kTooLarge
//   10   parse failed, body without a final newline                 -> kTruncated
//   11   parse failed                                               -> kUnparsable
//   12   otherwise                                                  -> kNone
// clang-format on
ScrapeFailure ClassifyScrape(const ScrapeAttempt& attempt);

// Which kept scrape a new one (at `now`) is compared with, given the times of
// the kept scrapes, oldest first: the newest one at least `window` old, so
// the figures cover at least the window; when none is that old, the oldest
// (the agent has not run a window yet); unset when none is kept.
// clang-format off
//   row  kept scrapes                         -> baseline
//   1    none                                 -> unset
//   2    some at least `window` old           -> the newest of those
//   3    all younger than `window`            -> the oldest
// clang-format on
// The agent then drops the scrapes older than the baseline.
std::optional<size_t> PickBaseline(const std::deque<WallTime>& kept, WallTime now, Duration window);

// The figures to decide on while a scrape has been pending (sent, not
// answered) for `pending`. The kubelet's /metrics blocks while a CRI list
// call hangs (its log-metrics collector lists containers through the CRI),
// and the PLEG relist makes the same list calls, so a scrape pending for P
// seconds stands for a last relist about P seconds old
// (docs/early-warning.md, "A scrape the kubelet does not answer"):
// clang-format off
//   row  pending                          -> figures
//   1    at most thresholds.calm_last_seen -> unset: wait for the answer (no decision)
//   2    longer                            -> only last_seen_age = pending, scrape_pending = pending
// clang-format on
// So with the defaults DecideLevel turns the level Critical once a scrape is
// pending over 30 s, keeps Critical while it stays pending, and never counts
// a pending scrape as calm (it is above calm_last_seen), so it does not
// advance a recovery.
std::optional<PlegFigures> PendingScrapeFigures(Duration pending, const Thresholds& thresholds);

// Rate limit of failure logs: the first failure of a kind is logged at once,
// then at most one per `every` per kind, each saying how many were not
// logged since. Not thread-safe.
class LogGate {
 public:
  explicit LogGate(Duration every) : every_(every) {}
  // Unset: do not log now. Otherwise log, with the count suppressed since the
  // last logged one of this kind.
  std::optional<uint64_t> Admit(std::string_view kind, MonoTime now);

 private:
  struct Entry {
    MonoTime logged_at;
    uint64_t suppressed = 0;
  };
  const Duration every_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace nodeguard::early
