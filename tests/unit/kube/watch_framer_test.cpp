#include "kube/watch_framer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kube_testdata.h"

namespace nodeguard::kube {
namespace {

// Feeds `chunks` and returns the events delivered.
std::vector<std::string> Frame(WatchFramer& framer, const std::vector<std::string_view>& chunks) {
  std::vector<std::string> events;
  for (std::string_view chunk : chunks) {
    Status s = framer.Feed(chunk, [&](std::string_view event) {
      events.emplace_back(event);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.error().ToString();
  }
  return events;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TEST(WatchFramer, OneChunkManyEvents) {
  WatchFramer framer;
  auto events = Frame(framer, {"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"});
  EXPECT_EQ(events, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
  EXPECT_EQ(framer.buffered(), 0u);
}

TEST(WatchFramer, EverySplitPointOfACapturedStream) {
  std::vector<std::string> lines = testing::ReadTestdataLines("kube/watch_pods_shop.jsonl");
  ASSERT_GT(lines.size(), 10u);
  std::string stream = Join(lines);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    WatchFramer framer;
    std::string_view s(stream);
    auto events = Frame(framer, {s.substr(0, cut), s.substr(cut)});
    ASSERT_EQ(events, lines) << "split at " << cut;
    ASSERT_EQ(framer.buffered(), 0u);
  }
}

TEST(WatchFramer, EveryPairOfSplitPoints) {
  std::vector<std::string> lines = {R"({"type":"ADDED","object":{"x":"a\nb"}})",
                                    R"({"type":"BOOKMARK"})", R"({"t":1})"};
  // JSON escapes newlines inside strings, so the literal "\n" above is the two
  // characters '\' 'n' in the stream, never a line break.
  std::string stream = Join(lines);
  for (size_t i = 0; i <= stream.size(); ++i) {
    for (size_t j = i; j <= stream.size(); ++j) {
      WatchFramer framer;
      std::string_view s(stream);
      auto events = Frame(framer, {s.substr(0, i), s.substr(i, j - i), s.substr(j)});
      ASSERT_EQ(events, lines) << i << "," << j;
    }
  }
}

TEST(WatchFramer, ByteByByte) {
  std::vector<std::string> lines = testing::ReadTestdataLines("kube/watch_pods_shop.jsonl");
  std::string stream = Join(lines);
  WatchFramer framer;
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < stream.size(); ++i)
    chunks.push_back(std::string_view(stream).substr(i, 1));
  EXPECT_EQ(Frame(framer, chunks), lines);
}

TEST(WatchFramer, TrailingPartialIsHeldBack) {
  WatchFramer framer;
  auto events = Frame(framer, {"{\"a\":1}\n{\"b\":"});
  EXPECT_EQ(events, (std::vector<std::string>{"{\"a\":1}"}));
  EXPECT_EQ(framer.buffered(), 5u);
  events = Frame(framer, {"2}\n"});
  EXPECT_EQ(events, (std::vector<std::string>{"{\"b\":2}"}));
  EXPECT_EQ(framer.buffered(), 0u);
}

TEST(WatchFramer, ResetDropsThePartialEvent) {
  WatchFramer framer;
  Frame(framer, {"{\"cut\":"});
  framer.Reset();
  EXPECT_EQ(framer.buffered(), 0u);
  EXPECT_EQ(Frame(framer, {"{\"new\":1}\n"}), (std::vector<std::string>{"{\"new\":1}"}));
}

TEST(WatchFramer, BlankLinesAndCrLf) {
  WatchFramer framer;
  auto events = Frame(framer, {"\n\r\n  \n{\"a\":1}\r\n", "\r", "\n{\"b\":2}\n\n"});
  EXPECT_EQ(events, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
}

TEST(WatchFramer, EventLargerThanTheLimitIsRefused) {
  for (const auto& chunks : std::vector<std::vector<std::string_view>>{
           {"0123456789A\n"},         // Complete in one chunk.
           {"01234", "56789", "AB"},  // Partial only, growing.
           {"012345", "6789AB\n"},    // Completed across chunks.
       }) {
    WatchFramer framer(10);
    Status last = Status::Ok();
    int delivered = 0;
    for (std::string_view chunk : chunks) {
      last = framer.Feed(chunk, [&](std::string_view) {
        ++delivered;
        return Status::Ok();
      });
      if (!last.ok()) break;
    }
    ASSERT_FALSE(last.ok());
    EXPECT_EQ(last.error().kind, ErrorKind::kInvalid);
    EXPECT_EQ(delivered, 0);
  }
  WatchFramer framer(10);
  EXPECT_EQ(Frame(framer, {"0123456789\n"}).size(), 1u);  // Exactly the limit is fine.
}

TEST(WatchFramer, SinkErrorStopsDelivery) {
  WatchFramer framer;
  int delivered = 0;
  Status s = framer.Feed("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", [&](std::string_view) {
    return ++delivered == 2 ? Status(Error::Cancelled("stop")) : Status::Ok();
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kCancelled);
  EXPECT_EQ(delivered, 2);
}

}  // namespace
}  // namespace nodeguard::kube
