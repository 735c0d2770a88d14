#include "notify/payload.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "common/text.h"
#include "common/time.h"

namespace nodeguard::notify {
namespace {

using nlohmann::json;

// Slack's mrkdwn needs &, < and > escaped; nothing else.
std::string SlackEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// JSON with invalid UTF-8 replaced rather than thrown on.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string UrlQueryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string DingTalkSign(std::string_view secret, int64_t timestamp_ms) {
  const std::string to_sign = std::to_string(timestamp_ms) + "\n" + std::string(secret);
  return UrlQueryEscape(Base64Encode(HmacSha256(secret, to_sign)));
}

std::string DingTalkSignedUrl(std::string_view url, std::string_view secret, int64_t timestamp_ms) {
  std::string out(url);
  out += url.find('?') == std::string_view::npos ? '?' : '&';
  out +=
      "timestamp=" + std::to_string(timestamp_ms) + "&sign=" + DingTalkSign(secret, timestamp_ms);
  return out;
}

std::string DingTalkMarkdownBody(const Fact& fact) {
  const FactText t = DescribeFact(fact);
  std::string text = "#### " + t.title + "\n\n" + t.body + "\n\n";
  for (const auto& [label, value] : t.fields) text += "- **" + label + ":** " + value + "\n";
  text += "\n###### nodeguard · " + FactId(fact);
  json body = {
      {"msgtype", "markdown"},
      {"markdown", {{"title", TruncateUtf8(t.title, 128)}, {"text", TruncateUtf8(text, 16000)}}}};
  return Dump(body);
}

std::string SlackBody(const Fact& fact) {
  const FactText t = DescribeFact(fact);
  const std::string emoji = IsWarning(fact) ? ":warning: " : ":information_source: ";
  json fields = json::array();
  for (const auto& [label, value] : t.fields) {
    if (fields.size() == 10) break;  // Slack's limit per section.
    fields.push_back({{"type", "mrkdwn"},
                      {"text", TruncateUtf8("*" + label + "*\n" + SlackEscape(value), 2000)}});
  }
  json blocks = json::array();
  blocks.push_back(
      {{"type", "header"},
       {"text", {{"type", "plain_text"}, {"text", TruncateUtf8(t.title, 150)}, {"emoji", true}}}});
  blocks.push_back(
      {{"type", "section"},
       {"text", {{"type", "mrkdwn"}, {"text", TruncateUtf8(SlackEscape(t.body), 3000)}}}});
  blocks.push_back({{"type", "section"}, {"fields", fields}});
  blocks.push_back(
      {{"type", "context"},
       {"elements", json::array({{{"type", "mrkdwn"},
                                  {"text", TruncateUtf8("nodeguard · " + SlackEscape(FactId(fact)),
                                                        2000)}}})}});
  json body = {
      {"text", TruncateUtf8(emoji + SlackEscape(t.title) + ": " + SlackEscape(t.body), 3000)},
      {"blocks", blocks}};
  return Dump(body);
}

std::string CloudEventSource(std::string_view cluster) {
  if (cluster.empty()) return "/nodeguard";
  return "/nodeguard/" + UrlQueryEscape(cluster);
}

std::string CloudEventBody(const Fact& fact, std::string_view source) {
  const FactText t = DescribeFact(fact);
  json data = {{"schemaVersion", kDataSchemaVersion},
               {"kind", FactKindName(fact.kind)},
               {"severity", IsWarning(fact) ? "warning" : "info"},
               {"title", t.title},
               {"text", t.body},
               {"occurrence", fact.occurrence}};
  if (!fact.cluster.empty()) data["cluster"] = fact.cluster;
  if (!fact.policy.empty()) data["policy"] = fact.policy;
  if (!fact.node.empty()) data["node"] = fact.node;
  if (!fact.nodes.empty() || fact.more_nodes > 0) {
    data["nodes"] = fact.nodes;
    data["moreNodes"] = fact.more_nodes;
  }
  if (!fact.action.empty()) data["action"] = fact.action;
  if (!fact.level.empty()) data["level"] = fact.level;
  if (!fact.reason.empty()) data["reason"] = fact.reason;
  if (!fact.detail.empty()) data["detail"] = fact.detail;
  if (fact.duration) {
    data["durationSeconds"] = std::chrono::duration<double>(*fact.duration).count();
  }
  json event = {{"specversion", "1.0"},
                {"type", "io.nodeguard." + std::string(FactKindName(fact.kind))},
                {"source", source},
                {"id", FactId(fact)},
                {"time", FormatRfc3339(fact.time)},
                {"datacontenttype", "application/json"},
                {"data", data}};
  if (!fact.node.empty()) event["subject"] = fact.node;
  return Dump(event);
}

}  // namespace nodeguard::notify
