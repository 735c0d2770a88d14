#include "common/text.h"

#include <algorithm>

namespace nodeguard {
namespace {

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::string MoreSuffix(size_t n) { return " and " + std::to_string(n) + " more"; }

}  // namespace

std::string_view Utf8Prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t cut = max_bytes;
  // s[cut] is the first byte left out: while it continues a sequence, the
  // sequence started inside the prefix, so give the whole sequence back. A
  // UTF-8 sequence has at most 3 continuation bytes.
  for (int i = 0; i < 3 && cut > 0 && IsContinuation(s[cut]); ++i) --cut;
  if (IsContinuation(s[cut])) cut = max_bytes;  // Not UTF-8: cut where asked.
  return s.substr(0, cut);
}

std::string TruncateUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  if (max_bytes < kEllipsis.size()) return std::string(Utf8Prefix(s, max_bytes));
  std::string out(Utf8Prefix(s, max_bytes - kEllipsis.size()));
  out += kEllipsis;
  return out;
}

std::string JoinBounded(const std::vector<std::string>& items, std::string_view separator,
                        size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    const size_t left_after = items.size() - i - 1;
    const size_t grown = out.size() + (i > 0 ? separator.size() : 0) + items[i].size();
    const size_t suffix = left_after > 0 ? MoreSuffix(left_after).size() : 0;
    if (grown + suffix <= max_bytes) {
      if (i > 0) out += separator;
      out += items[i];
      continue;
    }
    if (i == 0) {
      // Not even one whole item: show the start of the first.
      if (items.size() == 1) return TruncateUtf8(items[0], max_bytes);
      const std::string rest = MoreSuffix(items.size() - 1);
      const size_t room = max_bytes > rest.size() ? max_bytes - rest.size() : 0;
      return TruncateUtf8(items[0], room) + rest;
    }
    // The suffix for item i and the rest fits beside what is already there:
    // the previous step checked exactly that length.
    return out + MoreSuffix(items.size() - i);
  }
  return out;
}

}  // namespace nodeguard
