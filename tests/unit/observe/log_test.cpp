#include "observe/log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

namespace nodeguard::observe {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Routes the default logger into a string for the test's lifetime.
class CapturedLog {
 public:
  explicit CapturedLog(LogFormat format, std::string level = "debug") {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    Status s = SetupLogging(LogOptions{std::move(level), format}, sink_);
    EXPECT_TRUE(s.ok());
  }
  ~CapturedLog() { SetupLogging(LogOptions{}, nullptr); }
  std::vector<std::string> lines() {
    spdlog::default_logger()->flush();
    return Lines(out_.str());
  }

 private:
  std::ostringstream out_;
  spdlog::sink_ptr sink_;
};

TEST(RenderPayload, TextQuotesOnlyWhatNeedsIt) {
  std::string payload = RenderPayload(LogFormat::kText, "cordoned", {Field("node", "worker-3")},
                                      {{"policy", "default"},
                                       {"reason", "PLEG is not healthy"},
                                       {"empty", ""},
                                       {"pods", 110},
                                       {"ratio", 0.5},
                                       {"dry_run", true},
                                       {"quote", "a\"b"},
                                       {"eq", "a=b"},
                                       {"nl", "a\nb"}});
  EXPECT_EQ(payload,
            "cordoned node=worker-3 policy=default reason=\"PLEG is not healthy\" empty=\"\" "
            "pods=110 ratio=0.5 dry_run=true quote=\"a\\\"b\" eq=\"a=b\" nl=\"a\\nb\"");
}

TEST(RenderPayload, JsonKeepsTypesAndEscapes) {
  std::string payload = RenderPayload(
      LogFormat::kJson, "drain \"blocked\"\n", {Field("node", "n\\1")},
      {{"pod", "ns/web-1"}, {"attempt", 3}, {"ok", false}, {"wait", 1.25}, {"ctl", "\x01\t"}});
  EXPECT_EQ(payload,
            "\"msg\":\"drain \\\"blocked\\\"\\n\",\"node\":\"n\\\\1\",\"pod\":\"ns/web-1\","
            "\"attempt\":3,\"ok\":false,\"wait\":1.25,\"ctl\":\"\\u0001\\t\"");
  auto parsed = nlohmann::json::parse("{" + payload + "}");
  EXPECT_EQ(parsed["msg"], "drain \"blocked\"\n");
  EXPECT_EQ(parsed["node"], "n\\1");
  EXPECT_EQ(parsed["attempt"], 3);
}

TEST(RenderPayload, JsonSurvivesInvalidUtf8AndReservedKeys) {
  std::string payload =
      RenderPayload(LogFormat::kJson, "bad \xff byte", {}, {{"msg", "shadow"}, {"level", 1}});
  auto parsed = nlohmann::json::parse("{" + payload + "}");
  EXPECT_EQ(parsed["msg"], "bad \xEF\xBF\xBD byte");  // U+FFFD replacement.
  EXPECT_EQ(parsed["_msg"], "shadow");
  EXPECT_EQ(parsed["_level"], 1);
}

TEST(Logging, JsonLinesCarryTimestampLevelAndFields) {
  CapturedLog log(LogFormat::kJson);
  Logger node_log = Log().With({{"node", "worker-3"}});
  node_log.Info("cordoned", {{"policy", "default"}});
  node_log.Warn("drain blocked", {{"pod", "ns/web-1"}, {"pdb", "web"}});
  spdlog::info("plain {} call", "spdlog");  // A library's line without fields.
  Log().Debug("debug line");

  auto lines = log.lines();
  ASSERT_EQ(lines.size(), 4u);
  std::vector<nlohmann::json> parsed;
  for (const auto& line : lines) {
    ASSERT_NO_THROW(parsed.push_back(nlohmann::json::parse(line))) << line;
  }
  EXPECT_EQ(parsed[0]["level"], "info");
  EXPECT_EQ(parsed[0]["msg"], "cordoned");
  EXPECT_EQ(parsed[0]["node"], "worker-3");
  EXPECT_EQ(parsed[0]["policy"], "default");
  EXPECT_TRUE(std::regex_match(parsed[0]["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
      << parsed[0]["ts"];
  EXPECT_EQ(parsed[1]["level"], "warning");
  EXPECT_EQ(parsed[1]["node"], "worker-3");
  EXPECT_EQ(parsed[1]["pod"], "ns/web-1");
  EXPECT_EQ(parsed[2]["msg"], "plain spdlog call");
  EXPECT_EQ(parsed[3]["level"], "debug");
}

TEST(Logging, TextLinesAndLevelFilter) {
  CapturedLog log(LogFormat::kText, "info");
  Log().Debug("hidden", {{"node", "a"}});
  Log().Error("uncordon failed", {{"node", "worker-1"}, {"error", "Conflict (409)"}});
  auto lines = log.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z error uncordon failed )"
                           R"re(node=worker-1 error="Conflict \(409\)")re")))
      << lines[0];
}

TEST(Logging, ParsesFlags) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("JSON").ok());
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("warning"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("error"), spdlog::level::err);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
  EXPECT_FALSE(SetupLogging(LogOptions{"loud", LogFormat::kText}).ok());
}

}  // namespace
}  // namespace nodeguard::observe
