#include "common/duration.h"

#include <gtest/gtest.h>

using namespace std::chrono_literals;

namespace nodeguard {
namespace {

Duration Parse(std::string_view s) {
  auto r = ParseGoDuration(s);
  EXPECT_TRUE(r.ok()) << s << ": " << (r.ok() ? "" : r.error().ToString());
  return r.ok() ? *r : Duration(-1);
}

TEST(ParseGoDuration, KubeletPlegForms) {
  EXPECT_EQ(Parse("3m7.629592089s"), 3min + 7s + 629592089ns);
  EXPECT_EQ(Parse("3m0s"), 3min);
  EXPECT_EQ(Parse("16h17m50.79s"), 16h + 17min + 50s + 790ms);
  EXPECT_EQ(Parse("3m5.12s"), 3min + 5s + 120ms);
}

TEST(ParseGoDuration, UnitsSignsAndZero) {
  EXPECT_EQ(Parse("0"), 0s);
  EXPECT_EQ(Parse("1h30m"), 90min);
  EXPECT_EQ(Parse("150ms"), 150ms);
  EXPECT_EQ(Parse("2us"), 2us);
  EXPECT_EQ(Parse("2\xC2\xB5s"), 2us);
  EXPECT_EQ(Parse("7ns"), 7ns);
  EXPECT_EQ(Parse("-5s"), -5s);
  EXPECT_EQ(Parse("+5s"), 5s);
  EXPECT_EQ(Parse(".5s"), 500ms);
  EXPECT_EQ(Parse("1.s"), 1s);
  EXPECT_EQ(Parse("1h1h"), 2h);  // Go accepts repeated units and sums them.
}

TEST(ParseGoDuration, RejectsMalformed) {
  for (std::string_view bad : {"", "-", "s", "3", "3x", "3m7", "1.2.3s", ".s", "5 m", "m5",
                               "9999999999999999999h", "3mm"}) {
    auto r = ParseGoDuration(bad);
    EXPECT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
      EXPECT_NE(r.error().message.find("invalid duration"), std::string::npos);
    }
  }
}

TEST(FormatGoDuration, MatchesGo) {
  EXPECT_EQ(FormatGoDuration(0s), "0s");
  EXPECT_EQ(FormatGoDuration(3min), "3m0s");
  EXPECT_EQ(FormatGoDuration(3min + 7s + 629592089ns), "3m7.629592089s");
  EXPECT_EQ(FormatGoDuration(16h + 17min + 50s + 790ms), "16h17m50.79s");
  EXPECT_EQ(FormatGoDuration(150ms), "150ms");
  EXPECT_EQ(FormatGoDuration(1500us), "1.5ms");
  EXPECT_EQ(FormatGoDuration(-90s), "-1m30s");
  EXPECT_EQ(FormatGoDuration(2h), "2h0m0s");
}

TEST(FormatGoDuration, RoundTrips) {
  for (std::string_view s : {"3m7.629592089s", "16h17m50.79s", "1h0m0s", "42ms", "5s"}) {
    EXPECT_EQ(FormatGoDuration(Parse(s)), s);
  }
}

}  // namespace
}  // namespace nodeguard
