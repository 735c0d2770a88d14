#pragma once

// A sink: where notifications go (DingTalk, Slack or a generic webhook), the
// kinds it wants, and the request it sends for a fact. Pure. The URL and the
// signing secret are secrets (they come from a Secret): they appear in no
// log, Event, status, metric or error; RedactUrl is what may be shown.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "notify/fact.h"

namespace nodeguard::notify {

enum class SinkType { kDingTalk, kSlack, kWebhook };
const char* SinkTypeName(SinkType type);  // "dingtalk", "slack", "webhook".
std::optional<SinkType> ParseSinkType(std::string_view name);

struct SinkConfig {
  std::string name;  // Unique among sinks; the metrics' `sink` label.
  SinkType type = SinkType::kWebhook;
  std::set<FactKind> kinds;  // Empty: every kind.
  std::string url;           // Secret.
  std::string secret;        // Secret; DingTalk's signing secret (optional).
  std::string cluster;       // Shown in messages and the CloudEvents source.

  bool Wants(FactKind kind) const { return kinds.empty() || kinds.count(kind) > 0; }
};

// Parses a list of kind names ("remediation.failed", ...); "*" or an empty
// list is every kind. An unknown name is an Invalid error naming it.
Result<std::set<FactKind>> ParseKinds(const std::vector<std::string>& names);

// Checks what can be checked without sending: a name, an https:// URL (or
// http:// when allow_http, for tests), a DingTalk secret without newlines.
// The error never contains the URL or the secret.
Status ValidateSink(const SinkConfig& sink, bool allow_http);

struct OutboundRequest {
  std::string url;  // Secret (may carry a token or a signature).
  std::map<std::string, std::string> headers;
  std::string body;
};

// The request for `fact`; `now` signs DingTalk requests.
OutboundRequest BuildRequest(const SinkConfig& sink, const Fact& fact, WallTime now);

// "https://oapi.dingtalk.com/…": the scheme and host only, for logs and
// errors. Userinfo, port-less or not, path and query are cut.
std::string RedactUrl(std::string_view url);

// Density caps aggregated: at most one fact per `interval` per policy,
// listing the nodes that reached their cap since the last one. The first
// node after a quiet interval is reported `gather` after it was added (0: at
// once), so the nodes a burst caps within `gather` come in one message
// rather than one node now and the rest an interval later. Not thread-safe.
class DensityAggregator {
 public:
  explicit DensityAggregator(Duration interval, size_t max_nodes = 50,
                             Duration gather = Duration::zero())
      : interval_(interval), max_nodes_(max_nodes), gather_(gather) {}

  // `now` starts the gather when nothing was pending for the policy.
  void Add(const std::string& policy, const std::string& node, WallTime now = WallTime{});
  // The facts due at `now` (one per policy with nodes pending), each with
  // its nodes sorted and `occurrence` set to the window's start (RFC 3339),
  // so the id is stable for the same window.
  std::vector<Fact> Flush(WallTime now, std::string_view cluster);
  // When Flush next has something to say; nullopt when nothing is pending.
  std::optional<WallTime> NextDue() const;

 private:
  struct Pending {
    std::set<std::string> nodes;
    WallTime first_added;  // Of the nodes pending now.
    std::optional<WallTime> last_sent;
  };
  WallTime DueAt(const Pending& p) const;

  Duration interval_;
  size_t max_nodes_;
  Duration gather_;
  std::map<std::string, Pending> by_policy_;
};

}  // namespace nodeguard::notify
