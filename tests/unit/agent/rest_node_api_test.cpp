#include "agent/rest_node_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fake_http.h"

namespace nodeguard::agent {
namespace {

using kube::testing::FakeHttpClient;
using nlohmann::json;
using ::testing::HasSubstr;

class RestNodeApiTest : public ::testing::Test {
 protected:
  static kube::RestOptions NoSleep() {
    kube::RestOptions o;
    o.sleep = [](std::chrono::milliseconds) {};
    return o;
  }

  FakeHttpClient http_;
  kube::RestClient rest_{http_, NoSleep()};
  RestNodeApi api_{rest_};
};

TEST_F(RestNodeApiTest, ConditionalMergePatchOfOneAnnotation) {
  http_.Push(FakeHttpClient::Respond(
      200, R"({"kind":"Node","metadata":{"name":"worker-1","resourceVersion":"101"}})"));
  auto rv = api_.SetAnnotation("worker-1", "nodeguard.io/agent-status",
                               R"({"id":"r-1","state":"Accepted"})", "100");
  ASSERT_TRUE(rv.ok()) << rv.error().ToString();
  EXPECT_EQ(*rv, "101");

  auto requests = http_.requests();
  ASSERT_EQ(requests.size(), 1u);
  const kube::HttpRequest& request = requests[0];
  EXPECT_EQ(request.method, "PATCH");
  EXPECT_THAT(request.path_and_query, ::testing::StartsWith("/api/v1/nodes/worker-1"));
  EXPECT_EQ(request.path_and_query.find("/status"), std::string::npos);  // Not the subresource.
  EXPECT_EQ(request.headers.at("Content-Type"), "application/merge-patch+json");
  // The value is a JSON document stored as a string, not merged as an object.
  EXPECT_EQ(json::parse(request.body),
            json::parse(R"({"metadata":{"resourceVersion":"100","annotations":{
                "nodeguard.io/agent-status":"{\"id\":\"r-1\",\"state\":\"Accepted\"}"}}})"));
}

TEST_F(RestNodeApiTest, UnconditionalWhenNoVersionIsExpected) {
  http_.Push(FakeHttpClient::Respond(200, R"({"metadata":{"resourceVersion":"7"}})"));
  auto rv = api_.SetAnnotation("worker-2", "nodeguard.io/agent-status", "{}", "");
  ASSERT_TRUE(rv.ok());
  EXPECT_EQ(*rv, "7");
  EXPECT_EQ(json::parse(http_.requests()[0].body),
            json::parse(R"({"metadata":{"annotations":{"nodeguard.io/agent-status":"{}"}}})"));
}

TEST_F(RestNodeApiTest, EscapesTheNodeName) {
  http_.Push(FakeHttpClient::Respond(200, R"({"metadata":{"resourceVersion":"7"}})"));
  ASSERT_TRUE(api_.SetAnnotation("a b", "k", "v", "").ok());
  EXPECT_THAT(http_.requests()[0].path_and_query, ::testing::StartsWith("/api/v1/nodes/a%20b"));
}

TEST_F(RestNodeApiTest, StaleVersionIsAConflictAndNotRetried) {
  http_.Push(FakeHttpClient::Respond(
      409, R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":409,)"
           R"("reason":"Conflict","message":"the object has been modified"})"));
  auto rv = api_.SetAnnotation("worker-1", "k", "v", "99");
  ASSERT_FALSE(rv.ok());
  EXPECT_TRUE(rv.error().Is(ErrorKind::kConflict)) << rv.error().ToString();
  EXPECT_EQ(http_.requests().size(), 1u);
}

TEST_F(RestNodeApiTest, ServerErrorsSurfaceWithoutReplay) {
  // A PATCH is not replayed on 5xx (the RestClient's policy): the agent
  // decides afresh on the next Node it sees instead.
  http_.Push(FakeHttpClient::Respond(503, "unavailable"));
  http_.Push(FakeHttpClient::Respond(200, R"({"metadata":{"resourceVersion":"7"}})"));
  auto rv = api_.SetAnnotation("worker-1", "k", "v", "6");
  ASSERT_FALSE(rv.ok());
  EXPECT_TRUE(rv.error().Is(ErrorKind::kUnavailable)) << rv.error().ToString();
  EXPECT_EQ(http_.requests().size(), 1u);
}

TEST_F(RestNodeApiTest, AnswerWithoutVersionOrNotAnObject) {
  http_.Push(FakeHttpClient::Respond(200, R"({"metadata":{}})"));
  auto rv = api_.SetAnnotation("worker-1", "k", "v", "");
  ASSERT_TRUE(rv.ok());
  EXPECT_EQ(*rv, "");  // The Agent treats an unconfirmed write as failed.

  http_.Push(FakeHttpClient::Respond(200, "not json"));
  rv = api_.SetAnnotation("worker-1", "k", "v", "");
  ASSERT_FALSE(rv.ok());
  EXPECT_TRUE(rv.error().Is(ErrorKind::kInvalid));
}

TEST(ResourceVersionOf, Shapes) {
  EXPECT_EQ(ResourceVersionOf(R"({"metadata":{"resourceVersion":"42"}})").value(), "42");
  EXPECT_EQ(ResourceVersionOf(R"({"metadata":{"resourceVersion":42}})").value(), "");
  EXPECT_EQ(ResourceVersionOf(R"({"metadata":[]})").value(), "");
  EXPECT_EQ(ResourceVersionOf(R"({})").value(), "");
  EXPECT_FALSE(ResourceVersionOf("[]").ok());
  EXPECT_FALSE(ResourceVersionOf("").ok());
}

}  // namespace
}  // namespace nodeguard::agent
