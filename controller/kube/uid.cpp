#include "kube/uid.h"

#include <optional>
#include <ostream>

namespace nodeguard::kube {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // Uppercase too: it would not format back to the same text.
}

bool IsHyphenPosition(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

// The 16 bytes of "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lowercase hex), or
// nothing if `text` is not exactly that.
std::optional<std::array<uint8_t, 16>> ParseCanonicalUuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::array<uint8_t, 16> bytes{};
  size_t nibble = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsHyphenPosition(i)) {
      if (text[i] != '-') return std::nullopt;
      continue;
    }
    const int v = HexValue(text[i]);
    if (v < 0) return std::nullopt;
    bytes[nibble / 2] = static_cast<uint8_t>(bytes[nibble / 2] | (nibble % 2 == 0 ? v << 4 : v));
    ++nibble;
  }
  return bytes;
}

}  // namespace

Uid::Uid(std::string_view text) {
  if (text.empty()) return;
  std::optional<std::array<uint8_t, 16>> bytes = ParseCanonicalUuid(text);
  // The nil UUID would read as the empty uid: keep it as text.
  if (bytes && *bytes != std::array<uint8_t, 16>{}) {
    bytes_ = *bytes;
  } else {
    text_ = Symbol::Intern(text);
  }
}

std::string Uid::str() const {
  if (!text_.empty() || empty()) return text_.str();
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes_.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHexDigits[bytes_[i] >> 4]);
    out.push_back(kHexDigits[bytes_[i] & 0xf]);
  }
  return out;
}

size_t Uid::Hash() const {
  if (!text_.empty()) return std::hash<Symbol>()(text_);
  // UUIDs are random or time-based throughout: mixing two words suffices.
  uint64_t hi = 0;
  uint64_t lo = 0;
  for (size_t i = 0; i < 8; ++i) {
    hi = (hi << 8) | bytes_[i];
    lo = (lo << 8) | bytes_[8 + i];
  }
  return std::hash<uint64_t>()(hi ^ (lo * 0x9e3779b97f4a7c15ULL));
}

std::ostream& operator<<(std::ostream& out, const Uid& uid) { return out << uid.str(); }

}  // namespace nodeguard::kube
