#include "notify/sink.h"

#include <algorithm>
#include <chrono>

#include "common/time.h"
#include "notify/payload.h"

namespace nodeguard::notify {

const char* SinkTypeName(SinkType type) {
  switch (type) {
    case SinkType::kDingTalk:
      return "dingtalk";
    case SinkType::kSlack:
      return "slack";
    case SinkType::kWebhook:
      return "webhook";
  }
  return "unknown";
}

std::optional<SinkType> ParseSinkType(std::string_view name) {
  if (name == "dingtalk") return SinkType::kDingTalk;
  if (name == "slack") return SinkType::kSlack;
  if (name == "webhook") return SinkType::kWebhook;
  return std::nullopt;
}

Result<std::set<FactKind>> ParseKinds(const std::vector<std::string>& names) {
  std::set<FactKind> kinds;
  for (const auto& name : names) {
    if (name == "*") return std::set<FactKind>{};
    auto kind = ParseFactKind(name);
    if (!kind) return Error::Invalid("unknown notification kind \"" + name + "\"");
    kinds.insert(*kind);
  }
  return kinds;
}

Status ValidateSink(const SinkConfig& sink, bool allow_http) {
  if (sink.name.empty()) return Error::Invalid("a sink needs a name");
  const std::string where = "sink \"" + sink.name + "\": ";
  const bool https = sink.url.rfind("https://", 0) == 0;
  const bool http = sink.url.rfind("http://", 0) == 0;
  if (!https && !(allow_http && http)) {
    return Error::Invalid(
        where + (sink.url.empty() ? "the url is empty" : "the url must start with https://"));
  }
  if (sink.url.find_first_of(" \t\r\n") != std::string::npos) {
    return Error::Invalid(where + "the url contains whitespace");
  }
  if (sink.secret.find_first_of("\r\n") != std::string::npos) {
    return Error::Invalid(where + "the secret contains a line break");
  }
  if (!sink.secret.empty() && sink.type != SinkType::kDingTalk) {
    return Error::Invalid(where + "only dingtalk sinks take a signing secret");
  }
  return Status::Ok();
}

OutboundRequest BuildRequest(const SinkConfig& sink, const Fact& fact, WallTime now) {
  OutboundRequest r;
  r.url = sink.url;
  switch (sink.type) {
    case SinkType::kDingTalk: {
      if (!sink.secret.empty()) {
        const int64_t ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
        r.url = DingTalkSignedUrl(sink.url, sink.secret, ms);
      }
      r.headers["Content-Type"] = "application/json; charset=utf-8";
      r.body = DingTalkMarkdownBody(fact);
      break;
    }
    case SinkType::kSlack:
      r.headers["Content-Type"] = "application/json; charset=utf-8";
      r.body = SlackBody(fact);
      break;
    case SinkType::kWebhook:
      r.headers["Content-Type"] = std::string(kCloudEventContentType);
      r.body = CloudEventBody(fact, CloudEventSource(sink.cluster));
      break;
  }
  return r;
}

std::string RedactUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "(url redacted)";
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string out(url.substr(0, scheme_end + 3));
  out += authority;
  if (authority.size() < rest.size()) out += "/\xE2\x80\xA6";
  return out;
}

void DensityAggregator::Add(const std::string& policy, const std::string& node, WallTime now) {
  Pending& p = by_policy_[policy];
  if (p.nodes.empty()) p.first_added = now;
  p.nodes.insert(node);
}

WallTime DensityAggregator::DueAt(const Pending& p) const {
  const WallTime after_last = p.last_sent ? *p.last_sent + interval_ : WallTime{};
  return std::max(after_last, p.first_added + gather_);
}

std::optional<WallTime> DensityAggregator::NextDue() const {
  std::optional<WallTime> due;
  for (const auto& [policy, p] : by_policy_) {
    if (p.nodes.empty()) continue;
    const WallTime at = DueAt(p);
    if (!due || at < *due) due = at;
  }
  return due;
}

std::vector<Fact> DensityAggregator::Flush(WallTime now, std::string_view cluster) {
  std::vector<Fact> out;
  for (auto& [policy, p] : by_policy_) {
    if (p.nodes.empty()) continue;
    if (now < DueAt(p)) continue;
    Fact f;
    f.kind = FactKind::kDensityCapReached;
    f.cluster = std::string(cluster);
    f.policy = policy;
    f.time = now;
    // The window's start on a grid of `interval`: replicas and restarts
    // flushing in the same window give the same id.
    const auto step = std::max<Duration>(interval_, std::chrono::seconds(1));
    const auto since = std::chrono::duration_cast<Duration>(now.time_since_epoch());
    f.occurrence = FormatRfc3339(
        WallTime(std::chrono::duration_cast<WallTime::duration>(since - since % step)));
    for (const auto& node : p.nodes) {
      if (f.nodes.size() < max_nodes_) {
        f.nodes.push_back(node);
      } else {
        ++f.more_nodes;
      }
    }
    p.nodes.clear();
    p.last_sent = now;
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace nodeguard::notify
