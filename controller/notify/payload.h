#pragma once

// Payloads per sink type, pure (the signature's time is passed in):
//   - DingTalk custom robot: a markdown message; the signed mode appends
//     `timestamp` (ms) and `sign` = URL-encoded base64 of
//     HMAC-SHA256(key = secret, timestamp + "\n" + secret) to the URL;
//   - Slack incoming webhook: `text` (the notification's fallback) and
//     `blocks` (header, section, fields, context with the id);
//   - generic webhook: a CloudEvents 1.0 structured-mode JSON event
//     (application/cloudevents+json) whose `data` follows the versioned schema
//     kDataSchemaVersion (docs/notifications.md).
// Every body is bounded (the receivers' limits: Slack's header is 150
// characters, a field 2000, a section 3000) and valid UTF-8 when its input is.

#include <cstdint>
#include <string>
#include <string_view>

#include "notify/fact.h"

namespace nodeguard::notify {

// `data.schemaVersion` of the generic webhook's events. A change that removes
// or renames a field makes a new version; new optional fields do not.
inline constexpr std::string_view kDataSchemaVersion = "nodeguard.io/notification/v1";

std::string DingTalkMarkdownBody(const Fact& fact);
// The URL-encoded base64 HMAC-SHA256 signature of DingTalk's signed mode.
std::string DingTalkSign(std::string_view secret, int64_t timestamp_ms);
// `url` with "timestamp=<ms>&sign=<sign>" appended ('&' or '?' as needed).
std::string DingTalkSignedUrl(std::string_view url, std::string_view secret, int64_t timestamp_ms);

std::string SlackBody(const Fact& fact);

// "/nodeguard/<cluster>" or "/nodeguard" (a CloudEvents source is a
// URI-reference).
std::string CloudEventSource(std::string_view cluster);
std::string CloudEventBody(const Fact& fact, std::string_view source);
inline constexpr std::string_view kCloudEventContentType = "application/cloudevents+json";

// Building blocks, exposed for tests.
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes.
std::string Base64Encode(std::string_view bytes);                     // Standard, padded.
std::string UrlQueryEscape(std::string_view s);                       // Like Python's quote_plus.

}  // namespace nodeguard::notify
