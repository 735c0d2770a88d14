#include "notify/payload.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace nodeguard::notify {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const WallTime kAt = WallTime(std::chrono::seconds(1'765'076'400));  // 2025-12-07T03:00:00Z

Fact Failed() {
  Fact f;
  f.kind = FactKind::kRemediationFailed;
  f.cluster = "prod-hz-1";
  f.policy = "workers";
  f.node = "worker-3";
  f.action = "reboot";
  f.reason = "Ready=False for 5m";
  f.detail = "kubelet <unreachable> & silent";
  f.duration = 252s;
  f.time = kAt;
  f.occurrence = "req-7f3a";
  return f;
}

std::string Hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

TEST(HmacSha256Test, Rfc4231TestCase2) {
  EXPECT_EQ(Hex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Base64EncodeTest, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe", 2)), "//4=");
}

TEST(UrlQueryEscapeTest, LikePythonQuotePlus) {
  // python3 -c 'import urllib.parse; print(urllib.parse.quote_plus("a+b/c=d e~_.-"))'
  EXPECT_EQ(UrlQueryEscape("a+b/c=d e~_.-"), "a%2Bb%2Fc%3Dd+e~_.-");
}

// The expected signatures were computed independently of this code with
//   python3 -c 'import hmac,hashlib,base64,urllib.parse; ts="1700000000000"; s="SECexample0123";
//     print(urllib.parse.quote_plus(base64.b64encode(hmac.new(s.encode(),
//       (ts+"\n"+s).encode(),hashlib.sha256).digest())))'
// (and the same with ts="1765000000123", s="SEC+/=secret with space").
TEST(DingTalkSignTest, MatchesAnIndependentlyComputedVector) {
  EXPECT_EQ(DingTalkSign("SECexample0123", 1700000000000),
            "Sa4KNFB5T%2FarpUvIi5KJSRcA7mBJVgy6L2LKqIvCft0%3D");
  EXPECT_EQ(DingTalkSign("SEC+/=secret with space", 1765000000123),
            "%2FIQQQrO8mM03S27efvygQuCvsU2lqI%2FGLfWKfcoKvos%3D");
}

TEST(DingTalkSignTest, SignedUrlAppendsTimestampAndSign) {
  EXPECT_EQ(DingTalkSignedUrl("https://oapi.dingtalk.com/robot/send?access_token=abc",
                              "SECexample0123", 1700000000000),
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000"
            "&sign=Sa4KNFB5T%2FarpUvIi5KJSRcA7mBJVgy6L2LKqIvCft0%3D");
  EXPECT_EQ(DingTalkSignedUrl("https://h/send", "SECexample0123", 1700000000000),
            "https://h/send?timestamp=1700000000000"
            "&sign=Sa4KNFB5T%2FarpUvIi5KJSRcA7mBJVgy6L2LKqIvCft0%3D");
}

TEST(DingTalkBodyTest, IsAMarkdownMessageWithTitleTextAndId) {
  const json body = json::parse(DingTalkMarkdownBody(Failed()));
  EXPECT_EQ(body["msgtype"], "markdown");
  EXPECT_EQ(body["markdown"]["title"], "Node worker-3: remediation FAILED (reboot after 4m12s)");
  const std::string text = body["markdown"]["text"];
  EXPECT_EQ(text.rfind("#### Node worker-3: remediation FAILED", 0), 0u) << text;
  EXPECT_NE(text.find("- **Node:** worker-3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("- **Policy:** workers\n"), std::string::npos) << text;
  EXPECT_NE(text.find("remediation.failed/workers/worker-3/req-7f3a"), std::string::npos);
}

TEST(SlackBodyTest, HasFallbackTextAndBlocksWithinSlackLimits) {
  Fact f = Failed();
  f.node = std::string(300, 'n');  // A title longer than a header allows.
  const json body = json::parse(SlackBody(f));
  ASSERT_TRUE(body["text"].is_string());
  EXPECT_EQ(body["text"].get<std::string>().rfind(":warning: Node ", 0), 0u);
  ASSERT_TRUE(body["blocks"].is_array());
  ASSERT_EQ(body["blocks"].size(), 4u);
  const json& header = body["blocks"][0];
  EXPECT_EQ(header["type"], "header");
  EXPECT_EQ(header["text"]["type"], "plain_text");
  EXPECT_LE(header["text"]["text"].get<std::string>().size(), 150u);
  EXPECT_EQ(body["blocks"][1]["type"], "section");
  EXPECT_EQ(body["blocks"][1]["text"]["type"], "mrkdwn");
  const json& fields = body["blocks"][2]["fields"];
  ASSERT_TRUE(fields.is_array());
  EXPECT_LE(fields.size(), 10u);
  EXPECT_EQ(body["blocks"][3]["type"], "context");
}

TEST(SlackBodyTest, EscapesMrkdwnControlCharacters) {
  const json body = json::parse(SlackBody(Failed()));
  const std::string section = body["blocks"][1]["text"]["text"];
  EXPECT_NE(section.find("kubelet &lt;unreachable&gt; &amp; silent"), std::string::npos) << section;
  Fact started = Failed();
  started.kind = FactKind::kRemediationStarted;
  EXPECT_EQ(
      json::parse(SlackBody(started))["text"].get<std::string>().rfind(":information_source:", 0),
      0u);
}

TEST(CloudEventBodyTest, IsAStructuredCloudEvent10WithTheV1Data) {
  const json e = json::parse(CloudEventBody(Failed(), CloudEventSource("prod-hz-1")));
  EXPECT_EQ(e["specversion"], "1.0");
  EXPECT_EQ(e["type"], "io.nodeguard.remediation.failed");
  EXPECT_EQ(e["source"], "/nodeguard/prod-hz-1");
  EXPECT_EQ(e["id"], "remediation.failed/workers/worker-3/req-7f3a");
  EXPECT_EQ(e["time"], "2025-12-07T03:00:00Z");
  EXPECT_EQ(e["datacontenttype"], "application/json");
  EXPECT_EQ(e["subject"], "worker-3");
  const json& d = e["data"];
  EXPECT_EQ(d["schemaVersion"], "nodeguard.io/notification/v1");
  EXPECT_EQ(d["kind"], "remediation.failed");
  EXPECT_EQ(d["severity"], "warning");
  EXPECT_EQ(d["cluster"], "prod-hz-1");
  EXPECT_EQ(d["policy"], "workers");
  EXPECT_EQ(d["node"], "worker-3");
  EXPECT_EQ(d["action"], "reboot");
  EXPECT_EQ(d["reason"], "Ready=False for 5m");
  EXPECT_EQ(d["detail"], "kubelet <unreachable> & silent");
  EXPECT_EQ(d["durationSeconds"], 252.0);
  EXPECT_EQ(d["occurrence"], "req-7f3a");
  EXPECT_EQ(d["title"], "Node worker-3: remediation FAILED (reboot after 4m12s)");
  EXPECT_FALSE(d.contains("nodes"));
}

TEST(CloudEventBodyTest, AggregatedFactCarriesNodesAndNoSubject) {
  Fact f;
  f.kind = FactKind::kDensityCapReached;
  f.policy = "workers";
  f.nodes = {"n1", "n2"};
  f.more_nodes = 1;
  f.time = kAt;
  f.occurrence = "2025-12-07T03:00:00Z";
  const json e = json::parse(CloudEventBody(f, CloudEventSource("")));
  EXPECT_EQ(e["source"], "/nodeguard");
  EXPECT_FALSE(e.contains("subject"));
  EXPECT_EQ(e["data"]["nodes"], json::array({"n1", "n2"}));
  EXPECT_EQ(e["data"]["moreNodes"], 1);
  EXPECT_EQ(e["data"]["severity"], "warning");
}

TEST(PayloadTest, InvalidUtf8InTheInputStillGivesValidJson) {
  Fact f = Failed();
  f.reason = "bad \xff\xfe bytes";
  EXPECT_NO_THROW(json::parse(DingTalkMarkdownBody(f)));
  EXPECT_NO_THROW(json::parse(SlackBody(f)));
  EXPECT_NO_THROW(json::parse(CloudEventBody(f, "/nodeguard")));
}

}  // namespace
}  // namespace nodeguard::notify
