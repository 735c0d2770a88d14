#include "notify/poster_cpprest.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "../kube/test_https_server.h"
#include "../kube/test_pki.h"
#include "notify/payload.h"
#include "notify/sink.h"

namespace nodeguard::notify {
namespace {

using namespace std::chrono_literals;
using kube::testing::ServerExchange;
using kube::testing::TestHttpsServer;
using kube::testing::TestPki;

PosterOptions Trusting(const TestPki& pki) {
  PosterOptions o;
  o.ca_pem = pki.ca_pem();
  o.proxy = {};  // Whatever the test's environment says, connect directly.
  return o;
}

Fact Started() {
  Fact f;
  f.kind = FactKind::kRemediationStarted;
  f.policy = "p";
  f.node = "n1";
  f.action = "reboot";
  f.occurrence = "r1";
  return f;
}

TEST(CpprestPosterTest, PostsASignedDingTalkMessageOverVerifiedTls) {
  TestPki pki;
  TestHttpsServer server({pki.IssueServer({"localhost"}, {"127.0.0.1"}), ""},
                         [](ServerExchange& ex) { ex.Respond(200, R"({"errcode":0})"); });
  SinkConfig sink;
  sink.name = "ding";
  sink.type = SinkType::kDingTalk;
  sink.url = server.url() + "/robot/send?access_token=TOKEN";
  sink.secret = "SECexample0123";
  const WallTime at = WallTime(std::chrono::milliseconds(1'700'000'000'000));
  CpprestPoster poster(Trusting(pki));
  auto response = poster.Post(BuildRequest(sink, Started(), at), 5s);
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  // The vector computed with Python in payload_test.cpp.
  EXPECT_EQ(requests[0].target,
            "/robot/send?access_token=TOKEN&timestamp=1700000000000"
            "&sign=Sa4KNFB5T%2FarpUvIi5KJSRcA7mBJVgy6L2LKqIvCft0%3D");
  EXPECT_EQ(requests[0].headers.at("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(requests[0].headers.count("authorization"), 0u);
  EXPECT_NE(requests[0].body.find("\"msgtype\":\"markdown\""), std::string::npos);
}

TEST(CpprestPosterTest, PassesRetryAfterThrough) {
  TestPki pki;
  TestHttpsServer server({pki.IssueServer({"localhost"}, {"127.0.0.1"}), ""},
                         [](ServerExchange& ex) {
                           ex.Respond(429, "slow down", {{"Retry-After", "7"}});
                         });
  CpprestPoster poster(Trusting(pki));
  OutboundRequest r{server.url() + "/hook", {{"Content-Type", "application/json"}}, "{}"};
  auto response = poster.Post(r, 5s);
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(response->retry_after, "7");
}

TEST(CpprestPosterTest, AnUntrustedCertificateFailsAndTheErrorHidesThePath) {
  TestPki pki;
  TestPki other("another-ca");
  TestHttpsServer server({pki.IssueServer({"localhost"}, {"127.0.0.1"}), ""},
                         [](ServerExchange& ex) { ex.Respond(200, "{}"); });
  CpprestPoster poster(Trusting(other));
  OutboundRequest r{server.url() + "/services/T0/B0/SECRET-TOKEN", {}, "{}"};
  auto response = poster.Post(r, 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().message.find("SECRET-TOKEN"), std::string::npos)
      << response.error().message;
  EXPECT_EQ(response.error().reason, kTlsFailure) << response.error().message;
  EXPECT_TRUE(server.requests().empty());
}

TEST(CpprestPosterTest, ARefusedConnectionIsATransportError) {
  int port = 0;
  {
    TestPki pki;
    TestHttpsServer server({pki.IssueServer({"localhost"}, {"127.0.0.1"}), ""},
                           [](ServerExchange& ex) { ex.Respond(200, "{}"); });
    port = server.port();
  }  // Closed: nothing listens there now.
  TestPki pki;
  CpprestPoster poster(Trusting(pki));
  OutboundRequest r{"https://127.0.0.1:" + std::to_string(port) + "/x/SECRET", {}, "{}"};
  auto response = poster.Post(r, 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(response.error().Retryable()) << response.error().ToString();
  EXPECT_NE(response.error().reason, kTlsFailure) << "the network, not TLS";
  EXPECT_EQ(response.error().message.find("SECRET"), std::string::npos);
}

}  // namespace
}  // namespace nodeguard::notify
