#pragma once

// Bounded text for what nodeguard writes to the API server: status messages
// (the CRD's maxLength), Event messages (1 KiB, as events.k8s.io bounds a
// note) and log-derived descriptions. Every cut lands on a UTF-8 character
// boundary, so a bounded string is as valid UTF-8 as its input (the API
// server rejects invalid UTF-8 in JSON strings). Bounds are in bytes; a
// Kubernetes maxLength counts characters, and a character is at least one
// byte, so a string within N bytes is within N characters.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace nodeguard {

// What a shortened text ends with: U+2026 HORIZONTAL ELLIPSIS (3 bytes).
inline constexpr std::string_view kEllipsis = "\xE2\x80\xA6";

// The longest prefix of `s` of at most `max_bytes` bytes that does not end
// inside a UTF-8 sequence. Bytes that are not valid UTF-8 are treated as
// characters of their own (at most 3 bytes are given back), so garbage input
// still gives a prefix close to `max_bytes`.
std::string_view Utf8Prefix(std::string_view s, size_t max_bytes);

// `s` when it fits in `max_bytes`; otherwise its Utf8Prefix followed by
// kEllipsis, together at most `max_bytes` bytes.
// REQUIRES: max_bytes >= kEllipsis.size() (a smaller bound gives a bare prefix).
std::string TruncateUtf8(std::string_view s, size_t max_bytes);

// `items` joined with `separator` within `max_bytes`: as many whole items as
// fit, in order, then " and N more" for the rest ("a, b and 98 more"). When
// not even the first item fits beside that suffix, the first item is
// shortened with TruncateUtf8. Never longer than `max_bytes`.
// REQUIRES: max_bytes >= 32 (room for a shortened item and the suffix).
std::string JoinBounded(const std::vector<std::string>& items, std::string_view separator,
                        size_t max_bytes);

}  // namespace nodeguard
