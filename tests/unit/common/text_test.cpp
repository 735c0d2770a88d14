#include "common/text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace nodeguard {
namespace {

// Whether `s` is well-formed UTF-8 (no sequence cut short, no stray
// continuation byte): what the API server needs in a JSON string.
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

const std::string kEuro = "\xE2\x82\xAC";       // € (3 bytes)
const std::string kSmile = "\xF0\x9F\x98\x80";  // 😀 (4 bytes)
const std::string kUmlaut = "\xC3\xA4";         // ä (2 bytes)

TEST(Utf8Prefix, FitsUnchanged) {
  EXPECT_EQ(Utf8Prefix("abc", 3), "abc");
  EXPECT_EQ(Utf8Prefix("abc", 10), "abc");
  EXPECT_EQ(Utf8Prefix("", 0), "");
}

TEST(Utf8Prefix, NeverCutsInsideACharacter) {
  // Every cut position through each multi-byte character.
  for (const std::string& ch : {kUmlaut, kEuro, kSmile}) {
    const std::string s = "ab" + ch + "cd";
    for (size_t max = 0; max <= s.size(); ++max) {
      SCOPED_TRACE("char of " + std::to_string(ch.size()) + " bytes, max " + std::to_string(max));
      const std::string_view p = Utf8Prefix(s, max);
      EXPECT_LE(p.size(), max);
      EXPECT_TRUE(ValidUtf8(p));
      // Only the cut character is given back, nothing more.
      if (max >= 2 && max < 2 + ch.size()) {
        EXPECT_EQ(p, "ab");
      }
      if (max >= 2 + ch.size()) {
        EXPECT_EQ(p.size(), std::min(max, s.size()));
      }
    }
  }
}

TEST(Utf8Prefix, InvalidBytesStillGiveAPrefixNearTheBound) {
  const std::string garbage(100, '\x80');  // Continuation bytes only.
  EXPECT_EQ(Utf8Prefix(garbage, 50).size(), 50u);
}

TEST(TruncateUtf8, AddsAnEllipsisWithinTheBound) {
  EXPECT_EQ(TruncateUtf8("short", 10), "short");
  EXPECT_EQ(TruncateUtf8("0123456789", 10), "0123456789");
  EXPECT_EQ(TruncateUtf8("0123456789A", 10), "0123456" + std::string(kEllipsis));
  for (size_t max = 3; max < 40; ++max) {
    const std::string s = kSmile + "x" + kEuro + kEuro + kUmlaut + "yz" + kSmile + kSmile;
    const std::string t = TruncateUtf8(s, max);
    SCOPED_TRACE(max);
    EXPECT_LE(t.size(), max);
    EXPECT_TRUE(ValidUtf8(t));
  }
}

TEST(TruncateUtf8, AHundredKilobyteMessage) {
  std::string big;
  while (big.size() < 100000) big += "PLEG " + kEuro;
  const std::string t = TruncateUtf8(big, 4096);
  EXPECT_LE(t.size(), 4096u);
  EXPECT_GE(t.size(), 4096u - 3 - kEllipsis.size());
  EXPECT_TRUE(ValidUtf8(t));
  EXPECT_EQ(t.substr(t.size() - kEllipsis.size()), kEllipsis);
}

TEST(JoinBounded, AllWhenTheyFit) {
  EXPECT_EQ(JoinBounded({}, ", ", 64), "");
  EXPECT_EQ(JoinBounded({"a"}, ", ", 64), "a");
  EXPECT_EQ(JoinBounded({"a", "b", "c"}, ", ", 64), "a, b, c");
}

TEST(JoinBounded, CountsWhatDoesNotFit) {
  std::vector<std::string> pods;
  for (int i = 0; i < 100; ++i) pods.push_back("default/pod-" + std::to_string(i));
  const std::string joined = JoinBounded(pods, ", ", 64);
  EXPECT_LE(joined.size(), 64u);
  EXPECT_EQ(joined, "default/pod-0, default/pod-1, default/pod-2 and 97 more");

  // At every bound the result fits and accounts for every item.
  for (size_t max = 32; max < 400; ++max) {
    const std::string j = JoinBounded(pods, "; ", max);
    SCOPED_TRACE(max);
    EXPECT_LE(j.size(), max);
    const size_t listed = j.empty() ? 0 : 1 + [&] {
      size_t n = 0;
      for (size_t p = j.find("; "); p != std::string::npos; p = j.find("; ", p + 1)) ++n;
      return n;
    }();
    const size_t more_at = j.find(" and ");
    const size_t more = more_at == std::string::npos ? 0 : std::stoul(j.substr(more_at + 5));
    EXPECT_EQ(listed + more, pods.size()) << j;
  }
}

TEST(JoinBounded, ShortensAFirstItemThatAloneIsTooLong) {
  const std::string huge(500, 'x');
  std::string j = JoinBounded({huge, "b", "c"}, ", ", 100);
  EXPECT_LE(j.size(), 100u);
  EXPECT_EQ(j.substr(j.size() - 11), " and 2 more");
  EXPECT_NE(j.find(kEllipsis), std::string::npos);
  j = JoinBounded({huge}, ", ", 100);
  EXPECT_EQ(j.size(), 100u);
}

TEST(JoinBounded, MultiByteItemsStayValid) {
  std::vector<std::string> items(50, kSmile + kEuro + "pod" + kUmlaut);
  for (size_t max = 32; max < 200; ++max) {
    const std::string j = JoinBounded(items, ", ", max);
    SCOPED_TRACE(max);
    EXPECT_LE(j.size(), max);
    EXPECT_TRUE(ValidUtf8(j));
  }
}

}  // namespace
}  // namespace nodeguard
