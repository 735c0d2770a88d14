#include "kube/rest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "fake_http.h"

namespace nodeguard::kube {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using testing::FakeHttpClient;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string StatusBody(int code, const std::string& reason, const std::string& message,
                       int retry_after = 0) {
  json s = {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
            {"code", code},     {"reason", reason},   {"message", message}};
  if (retry_after > 0) s["details"] = {{"retryAfterSeconds", retry_after}};
  return s.dump();
}

GetOptions Cached() {
  GetOptions o;
  o.resource_version = "0";
  return o;
}
WriteOptions DryRunAs(const std::string& manager) {
  WriteOptions o;
  o.dry_run = true;
  o.field_manager = manager;
  return o;
}
WriteOptions StatusSubresource() {
  WriteOptions o;
  o.subresource = "status";
  return o;
}
WriteOptions Forced() {
  WriteOptions o;
  o.force = true;
  return o;
}

class RestTest : public ::testing::Test {
 protected:
  RestTest() : rest_(http_, Options()) {}

  RestOptions Options() {
    RestOptions o;
    o.sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d); };
    o.observer = [this](const RequestMetric& m) {
      metrics_.push_back(std::string(m.verb) + " " + std::string(m.method) + " " +
                         std::to_string(m.code) + " #" + std::to_string(m.attempt));
    };
    return o;
  }

  FakeHttpClient http_;
  std::vector<std::chrono::milliseconds> sleeps_;
  std::vector<std::string> metrics_;
  RestClient rest_;
  const ResourcePath pods_ = CoreResource("pods", "default");
  const ResourcePath nodes_ = CoreResource("nodes");
};

TEST(RestPathTest, PathsAndEscaping) {
  EXPECT_EQ(CoreResource("nodes").CollectionPath(), "/api/v1/nodes");
  EXPECT_EQ(CoreResource("pods", "kube-system").CollectionPath(),
            "/api/v1/namespaces/kube-system/pods");
  EXPECT_EQ(GroupResource("coordination.k8s.io", "v1", "leases", "ng").CollectionPath(),
            "/apis/coordination.k8s.io/v1/namespaces/ng/leases");
  EXPECT_EQ(ObjectPath(CoreResource("pods", "a"), "p 1", "eviction"),
            "/api/v1/namespaces/a/pods/p%201/eviction");
  EXPECT_EQ(EscapeQueryValue("app in (a,b),tier!=x"), "app%20in%20%28a%2Cb%29%2Ctier%21%3Dx");
  EXPECT_EQ(EscapeQueryValue("spec.nodeName=n-1.x_y~"), "spec.nodeName%3Dn-1.x_y~");
}

struct StatusCase {
  int status;
  std::string body;
  std::map<std::string, std::string> headers;
  ErrorKind kind;
  std::string reason;
  int retry_after;
};

TEST(ErrorFromResponseTest, MapsStatusAndReason) {
  const std::vector<StatusCase> cases = {
      {404,
       StatusBody(404, "NotFound", "pods \"x\" not found"),
       {},
       ErrorKind::kNotFound,
       "NotFound",
       0},
      {409,
       StatusBody(409, "Conflict", "the object has been modified"),
       {},
       ErrorKind::kConflict,
       "Conflict",
       0},
      {409,
       StatusBody(409, "AlreadyExists", "exists"),
       {},
       ErrorKind::kAlreadyExists,
       "AlreadyExists",
       0},
      {410,
       StatusBody(410, "Expired", "too old resource version"),
       {},
       ErrorKind::kGone,
       "Expired",
       0},
      {200,
       StatusBody(410, "Expired", "in a watch ERROR event"),
       {},
       ErrorKind::kGone,
       "Expired",
       0},
      {429,
       StatusBody(429, "TooManyRequests", "Cannot evict pod", 10),
       {},
       ErrorKind::kTooManyRequests,
       "TooManyRequests",
       10},
      {429, "", {{"retry-after", "3"}}, ErrorKind::kTooManyRequests, "", 3},
      {401,
       StatusBody(401, "Unauthorized", "Unauthorized"),
       {},
       ErrorKind::kUnauthorized,
       "Unauthorized",
       0},
      {403,
       StatusBody(403, "Forbidden", "forbidden"),
       {},
       ErrorKind::kUnauthorized,
       "Forbidden",
       0},
      {422, StatusBody(422, "Invalid", "spec.x: Invalid"), {}, ErrorKind::kInvalid, "Invalid", 0},
      {400, StatusBody(400, "BadRequest", "bad"), {}, ErrorKind::kInvalid, "BadRequest", 0},
      {500,
       StatusBody(500, "InternalError", "etcd"),
       {},
       ErrorKind::kUnavailable,
       "InternalError",
       0},
      {503, "<html>Service Unavailable</html>", {}, ErrorKind::kUnavailable, "", 0},
      {504, StatusBody(504, "Timeout", "timeout"), {}, ErrorKind::kTimeout, "Timeout", 0},
  };
  for (const auto& c : cases) {
    HttpResponse r;
    r.status = c.status;
    r.body = c.body;
    r.headers = c.headers;
    const Error e = ErrorFromResponse(r);
    EXPECT_EQ(e.kind, c.kind) << c.status << " " << c.body;
    EXPECT_EQ(e.reason, c.reason) << c.body;
    EXPECT_EQ(e.retry_after_seconds, c.retry_after) << c.body;
  }
  HttpResponse html;
  html.status = 503;
  html.body = "<html>Service Unavailable</html>";
  EXPECT_THAT(ErrorFromResponse(html).message, HasSubstr("Service Unavailable"));
  EXPECT_EQ(ErrorFromResponse(html).http_status, 503);
}

TEST_F(RestTest, GetBuildsPathAndReturnsBody) {
  http_.Push(FakeHttpClient::Respond(200, R"({"kind":"Node"})"));
  auto node = rest_.Get(nodes_, "node-1", Cached());
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node.value(), R"({"kind":"Node"})");
  ASSERT_EQ(http_.requests().size(), 1u);
  EXPECT_EQ(http_.requests()[0].method, "GET");
  EXPECT_EQ(http_.requests()[0].path_and_query, "/api/v1/nodes/node-1?resourceVersion=0");
  EXPECT_THAT(metrics_, ElementsAre("get GET 200 #1"));
}

TEST_F(RestTest, NotFoundIsNotRetried) {
  http_.Push(FakeHttpClient::Respond(404, StatusBody(404, "NotFound", "nodes \"x\" not found")));
  auto node = rest_.Get(nodes_, "x");
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(node.error().http_status, 404);
  EXPECT_EQ(node.error().message, "nodes \"x\" not found");
  EXPECT_EQ(http_.requests().size(), 1u);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RestTest, ThrottledAndServerErrorsAreRetriedWithBackoffHonouringRetryAfter) {
  http_.Push(FakeHttpClient::Respond(429, StatusBody(429, "TooManyRequests", "slow down", 2)));
  http_.Push(FakeHttpClient::Respond(503, "unavailable"));
  http_.Push(FakeHttpClient::Fail(Error::Unavailable("connection reset")));
  http_.Push(FakeHttpClient::Respond(200, "{}"));
  auto node = rest_.Get(nodes_, "n");
  ASSERT_TRUE(node.ok()) << node.error().ToString();
  // Backoff 200ms, 400ms, 800ms; the first wait is stretched to Retry-After.
  EXPECT_THAT(sleeps_, ElementsAre(2000ms, 400ms, 800ms));
  EXPECT_THAT(metrics_,
              ElementsAre("get GET 429 #1", "get GET 503 #2", "get GET 0 #3", "get GET 200 #4"));
}

TEST_F(RestTest, RetriesAreBounded) {
  for (int i = 0; i < 10; ++i) http_.Push(FakeHttpClient::Respond(500, "boom"));
  auto node = rest_.Get(nodes_, "n");
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(http_.requests().size(), 5u);
  EXPECT_EQ(sleeps_.size(), 4u);
  EXPECT_EQ(sleeps_.back(), 1600ms);
}

TEST_F(RestTest, BackoffIsCapped) {
  RestOptions o = Options();
  o.max_attempts = 10;
  o.max_backoff = 1000ms;
  o.max_retry_after = 5s;
  RestClient rest(http_, o);
  http_.Push(FakeHttpClient::Respond(429, "", {{"retry-after", "3600"}}));
  for (int i = 0; i < 9; ++i) http_.Push(FakeHttpClient::Respond(503, ""));
  EXPECT_FALSE(rest.Get(nodes_, "n").ok());
  EXPECT_THAT(sleeps_,
              ElementsAre(5000ms, 400ms, 800ms, 1000ms, 1000ms, 1000ms, 1000ms, 1000ms, 1000ms));
}

TEST_F(RestTest, NonIdempotentWritesAreNotReplayedAfterServerErrors) {
  http_.Push(FakeHttpClient::Fail(Error::Unavailable("reset after write")));
  auto created = rest_.Create(pods_, R"({"metadata":{"name":"p"}})");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(http_.requests().size(), 1u);

  http_.Push(FakeHttpClient::Respond(500, StatusBody(500, "InternalError", "x")));
  EXPECT_FALSE(rest_.Patch(pods_, "p", PatchType::kMerge, "{}").ok());
  EXPECT_EQ(http_.requests().size(), 2u);

  // But a 429 means the server did nothing: safe to retry even a POST.
  http_.Push(FakeHttpClient::Respond(429, StatusBody(429, "TooManyRequests", "x")));
  http_.Push(FakeHttpClient::Respond(201, "{}"));
  EXPECT_TRUE(rest_.Create(pods_, "{}").ok());
  EXPECT_EQ(http_.requests().size(), 4u);
}

TEST_F(RestTest, ThrottlingWithRetryAfterIsRetriedForEveryVerb) {
  // Each verb: a 429 asking for 3 s, then success. Evict is the exception
  // (RestClient::EvictionCallOptions): a PDB's refusal is an answer.
  const std::vector<std::pair<std::string, std::function<bool()>>> verbs = {
      {"get", [&] { return rest_.Get(nodes_, "n").ok(); }},
      {"list", [&] { return rest_.ListPage(nodes_, {}).ok(); }},
      {"create", [&] { return rest_.Create(pods_, "{}").ok(); }},
      {"update", [&] { return rest_.Update(pods_, "p", "{}").ok(); }},
      {"patch", [&] { return rest_.Patch(pods_, "p", PatchType::kMerge, "{}").ok(); }},
      {"delete", [&] { return rest_.Delete(pods_, "p").ok(); }},
  };
  for (const auto& [verb, call] : verbs) {
    sleeps_.clear();
    metrics_.clear();
    http_.Push(FakeHttpClient::Respond(429, "", {{"retry-after", "3"}}));
    http_.Push(FakeHttpClient::Respond(200, "{}"));
    EXPECT_TRUE(call()) << verb;
    EXPECT_THAT(sleeps_, ElementsAre(3000ms)) << verb;
    EXPECT_EQ(metrics_.size(), 2u) << verb;
  }
}

// ------------------------------------------------------------ client-side rate limit

// A RestClient limited to 10 qps with a burst of 3 on a fake clock that the
// client's sleeps advance; records when each request reached the server and
// every wait the limiter reported.
class RestRateLimitTest : public ::testing::Test {
 protected:
  RestRateLimitTest() : rest_(http_, Options()) {
    http_.SetHandler([this](const HttpRequest&) {
      sent_at_.push_back(clock_.Monotonic() - start_);
      return FakeHttpClient::Respond(200, "{}");
    });
  }

  RestOptions Options() {
    RestOptions o;
    o.clock = &clock_;
    o.qps = 10;
    o.burst = 3;
    o.sleep = [this](std::chrono::milliseconds d) { clock_.Advance(d); };
    o.on_rate_limited = [this](Duration d) { waits_.push_back(d); };
    return o;
  }

  FakeClock clock_;
  const MonoTime start_ = clock_.Monotonic();
  FakeHttpClient http_;
  std::vector<Duration> sent_at_;
  std::vector<Duration> waits_;
  RestClient rest_;
  const ResourcePath nodes_ = CoreResource("nodes");
};

TEST_F(RestRateLimitTest, TheBurstPassesAtOnce) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rest_.Get(nodes_, "n").ok());
  EXPECT_THAT(sent_at_, ElementsAre(0ms, 0ms, 0ms));
}

TEST_F(RestRateLimitTest, AfterTheBurstRequestsAreSpacedOneOverQps) {
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(rest_.Get(nodes_, "n").ok());
  EXPECT_THAT(sent_at_, ElementsAre(0ms, 0ms, 0ms, 100ms, 200ms, 300ms));
  // Idle for a second: the bucket refills to its burst, not beyond.
  clock_.Advance(1s);
  sent_at_.clear();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(rest_.Get(nodes_, "n").ok());
  EXPECT_THAT(sent_at_, ElementsAre(1300ms, 1300ms, 1300ms, 1400ms));
}

TEST_F(RestRateLimitTest, EveryWaitIsReportedZeroIncluded) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rest_.Get(nodes_, "n").ok());
  EXPECT_THAT(waits_, ElementsAre(0ms, 0ms, 0ms, 100ms, 100ms));
}

TEST_F(RestRateLimitTest, EachRetryTakesATokenAndAWatchOneWhenOpened) {
  RestOptions o = Options();
  o.burst = 1;
  RestClient rest(http_, o);
  // A retried GET: two attempts, two tokens. The 200 ms backoff refilled the
  // bucket for the second attempt, which emptied it again: the next request
  // waits its 100 ms (it would not if the retry had been free).
  http_.Push(FakeHttpClient::Respond(503, ""));
  ASSERT_TRUE(rest.Get(nodes_, "n").ok());
  ASSERT_TRUE(rest.Get(nodes_, "n").ok());
  EXPECT_THAT(waits_, ElementsAre(0ms, 0ms, 100ms));
  // (The scripted 503 at 0 ms bypasses the handler that records times.)
  EXPECT_THAT(sent_at_, ElementsAre(200ms, 300ms));
  // A watch streaming many events takes one token when it is opened.
  waits_.clear();
  FakeHttpClient::Reply reply = FakeHttpClient::Respond(200, "");
  reply.chunks = {"{}\n", "{}\n", "{}\n"};
  http_.Push(reply);
  RestListWatcher watcher(rest, nodes_);
  CancelFlag cancel;
  int chunks = 0;
  ASSERT_TRUE(watcher
                  .Watch(
                      WatchOptions{},
                      [&](std::string_view) {
                        ++chunks;
                        return true;
                      },
                      cancel)
                  .ok());
  EXPECT_EQ(chunks, 3);
  EXPECT_EQ(waits_.size(), 1u);
  // And a caller sending over http() itself (the drainer's evictions) takes
  // one through Throttle().
  waits_.clear();
  rest.Throttle();
  EXPECT_EQ(waits_.size(), 1u);
}

TEST_F(RestRateLimitTest, UnlimitedWithoutQps) {
  RestOptions o = Options();
  o.qps = 0;
  RestClient rest(http_, o);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(rest.Get(nodes_, "n").ok());
  EXPECT_TRUE(waits_.empty());
  EXPECT_EQ(sent_at_.back(), 0ms);
}

TEST_F(RestTest, ConflictSurfacesImmediately) {
  http_.Push(FakeHttpClient::Respond(
      409,
      StatusBody(409, "Conflict",
                 "Operation cannot be fulfilled on pods \"p\": the object has been modified")));
  auto updated = rest_.Update(pods_, "p", R"({"metadata":{"name":"p","resourceVersion":"1"}})");
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(updated.error().reason, "Conflict");
  EXPECT_EQ(http_.requests().size(), 1u);
  EXPECT_EQ(http_.requests()[0].method, "PUT");
  EXPECT_EQ(http_.requests()[0].path_and_query,
            "/api/v1/namespaces/default/pods/p?fieldManager=nodeguard");
}

TEST_F(RestTest, CreateUpdateStatusAndDryRun) {
  http_.SetHandler([](const HttpRequest&) { return FakeHttpClient::Respond(201, "{}"); });
  ASSERT_TRUE(rest_.Create(pods_, R"({"a":1})", DryRunAs("tester")).ok());
  ASSERT_TRUE(rest_.Update(nodes_, "n", "{}", StatusSubresource()).ok());
  const auto reqs = http_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path_and_query,
            "/api/v1/namespaces/default/pods?dryRun=All&fieldManager=tester");
  EXPECT_EQ(reqs[0].headers.at("Content-Type"), "application/json");
  EXPECT_EQ(reqs[0].body, R"({"a":1})");
  EXPECT_EQ(reqs[1].path_and_query, "/api/v1/nodes/n/status?fieldManager=nodeguard");
}

TEST_F(RestTest, PatchTypesSetContentType) {
  http_.SetHandler([](const HttpRequest&) { return FakeHttpClient::Respond(200, "{}"); });
  ASSERT_TRUE(
      rest_.Patch(nodes_, "n", PatchType::kMerge, R"({"spec":{"unschedulable":true}})").ok());
  ASSERT_TRUE(
      rest_.Patch(nodes_, "n", PatchType::kJson, R"([{"op":"test","path":"/a","value":1}])").ok());
  ASSERT_TRUE(rest_.Patch(nodes_, "n", PatchType::kStrategicMerge, "{}", StatusSubresource()).ok());
  ASSERT_TRUE(rest_.Patch(nodes_, "n", PatchType::kApply, "{}", Forced()).ok());
  const auto reqs = http_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].headers.at("Content-Type"), "application/merge-patch+json");
  EXPECT_EQ(reqs[1].headers.at("Content-Type"), "application/json-patch+json");
  EXPECT_EQ(reqs[2].headers.at("Content-Type"), "application/strategic-merge-patch+json");
  EXPECT_EQ(reqs[2].path_and_query, "/api/v1/nodes/n/status?fieldManager=nodeguard");
  EXPECT_EQ(reqs[3].headers.at("Content-Type"), "application/apply-patch+yaml");
  EXPECT_EQ(reqs[3].path_and_query, "/api/v1/nodes/n?fieldManager=nodeguard&force=true");
  for (const auto& r : reqs) EXPECT_EQ(r.method, "PATCH");
}

TEST_F(RestTest, DeleteSendsPreconditionsAndPropagation) {
  http_.Push(FakeHttpClient::Respond(200, "{}"));
  DeleteOptions options;
  options.precondition_uid = "uid-1";
  options.precondition_resource_version = "42";
  options.propagation_policy = "Foreground";
  options.grace_period_seconds = 0;
  ASSERT_TRUE(rest_.Delete(pods_, "p", options).ok());
  const auto reqs = http_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "DELETE");
  EXPECT_EQ(reqs[0].path_and_query, "/api/v1/namespaces/default/pods/p");
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["kind"], "DeleteOptions");
  EXPECT_EQ(body["preconditions"]["uid"], "uid-1");
  EXPECT_EQ(body["preconditions"]["resourceVersion"], "42");
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["gracePeriodSeconds"], 0);
  EXPECT_FALSE(body.contains("dryRun"));
}

TEST_F(RestTest, EvictionBlockedByPdbIsNotRetried) {
  http_.Push(FakeHttpClient::Respond(
      429, StatusBody(429, "TooManyRequests",
                      "Cannot evict pod as it would violate the pod's disruption budget.", 10)));
  DeleteOptions options;
  options.grace_period_seconds = 30;
  Status evicted = rest_.Evict("default", "web-1", options);
  ASSERT_FALSE(evicted.ok());
  EXPECT_EQ(evicted.error().kind, ErrorKind::kTooManyRequests);
  EXPECT_EQ(evicted.error().retry_after_seconds, 10);
  EXPECT_THAT(evicted.error().message, HasSubstr("disruption budget"));
  ASSERT_EQ(http_.requests().size(), 1u);
  EXPECT_TRUE(sleeps_.empty());
  const HttpRequest req = http_.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path_and_query, "/api/v1/namespaces/default/pods/web-1/eviction");
  const json body = json::parse(req.body);
  EXPECT_EQ(body["apiVersion"], "policy/v1");
  EXPECT_EQ(body["kind"], "Eviction");
  EXPECT_EQ(body["metadata"]["name"], "web-1");
  EXPECT_EQ(body["metadata"]["namespace"], "default");
  EXPECT_EQ(body["deleteOptions"]["gracePeriodSeconds"], 30);
  EXPECT_THAT(metrics_, ElementsAre("evict POST 429 #1"));
}

TEST_F(RestTest, ListPageQuery) {
  http_.Push(FakeHttpClient::Respond(200, R"({"items":[]})"));
  ListOptions options;
  options.label_selector = "app=web,tier in (a,b)";
  options.field_selector = "spec.nodeName=node-1";
  options.limit = 100;
  options.continue_token = "abc=";
  ASSERT_TRUE(rest_.ListPage(pods_, options).ok());
  EXPECT_EQ(http_.requests()[0].path_and_query,
            "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29"
            "&fieldSelector=spec.nodeName%3Dnode-1&limit=100&continue=abc%3D");
}

std::string Page(const std::vector<int>& ids, const std::string& rv, const std::string& cont) {
  json items = json::array();
  for (int id : ids) items.push_back({{"metadata", {{"name", "cm-" + std::to_string(id)}}}});
  json meta = {{"resourceVersion", rv}};
  if (!cont.empty()) meta["continue"] = cont;
  return json{{"kind", "ConfigMapList"}, {"metadata", meta}, {"items", items}}.dump();
}

TEST_F(RestTest, ListAllFollowsContinueTokens) {
  http_.Push(FakeHttpClient::Respond(200, Page({1, 2}, "100", "t1")));
  http_.Push(FakeHttpClient::Respond(200, Page({3, 4}, "100", "t2")));
  http_.Push(FakeHttpClient::Respond(200, Page({5}, "100", "")));
  ListOptions options;
  options.limit = 2;
  auto all = rest_.ListAll(CoreResource("configmaps", "ns"), options);
  ASSERT_TRUE(all.ok()) << all.error().ToString();
  EXPECT_EQ(all->items.size(), 5u);
  EXPECT_EQ(all->resource_version, "100");
  EXPECT_EQ(all->pages, 3);
  EXPECT_FALSE(all->fell_back_to_full_list);
  EXPECT_EQ(json::parse(all->items[4])["metadata"]["name"], "cm-5");
  const auto reqs = http_.requests();
  EXPECT_EQ(reqs[0].path_and_query, "/api/v1/namespaces/ns/configmaps?limit=2");
  EXPECT_EQ(reqs[1].path_and_query, "/api/v1/namespaces/ns/configmaps?limit=2&continue=t1");
  EXPECT_EQ(reqs[2].path_and_query, "/api/v1/namespaces/ns/configmaps?limit=2&continue=t2");
}

TEST_F(RestTest, ListAllFallsBackToFullListWhenContinueExpires) {
  http_.Push(FakeHttpClient::Respond(200, Page({1, 2}, "100", "t1")));
  http_.Push(FakeHttpClient::Respond(
      410, StatusBody(410, "Expired", "The provided continue parameter is too old")));
  http_.Push(FakeHttpClient::Respond(200, Page({1, 2, 3}, "200", "")));
  ListOptions options;
  options.limit = 2;
  auto all = rest_.ListAll(CoreResource("configmaps", "ns"), options);
  ASSERT_TRUE(all.ok()) << all.error().ToString();
  EXPECT_EQ(all->items.size(), 3u);  // No duplicates from the abandoned pages.
  EXPECT_EQ(all->resource_version, "200");
  EXPECT_TRUE(all->fell_back_to_full_list);
  EXPECT_EQ(http_.requests()[2].path_and_query, "/api/v1/namespaces/ns/configmaps");
}

TEST_F(RestTest, ListAllGoneOnFirstPageIsAnError) {
  http_.Push(FakeHttpClient::Respond(410, StatusBody(410, "Expired", "too old")));
  ListOptions options;
  options.resource_version = "5";
  auto all = rest_.ListAll(CoreResource("configmaps", "ns"), options);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.error().kind, ErrorKind::kGone);
}

TEST_F(RestTest, WatchQueryAndStreaming) {
  RestListWatcher watcher(rest_, CoreResource("pods"));
  WatchOptions options;
  options.resource_version = "123";
  options.timeout = std::chrono::seconds(417);
  options.field_selector = "spec.nodeName=n1";
  EXPECT_EQ(watcher.WatchPathAndQuery(options),
            "/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=123&timeoutSeconds=417"
            "&fieldSelector=spec.nodeName%3Dn1");

  FakeHttpClient::Reply reply = FakeHttpClient::Respond(200, "");
  reply.chunks = {"{\"type\":\"ADD", "ED\"}\n"};
  http_.Push(reply);
  std::string received;
  CancelFlag cancel;
  Status s = watcher.Watch(
      options,
      [&](std::string_view c) {
        received += c;
        return true;
      },
      cancel);
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(received, "{\"type\":\"ADDED\"}\n");
  EXPECT_EQ(metrics_.back(), "watch GET 200 #1");
}

TEST_F(RestTest, WatchErrors) {
  RestListWatcher watcher(rest_, CoreResource("pods"));
  CancelFlag cancel;
  auto ignore = [](std::string_view) { return true; };
  http_.Push(FakeHttpClient::Respond(410, StatusBody(410, "Expired", "too old resource version")));
  Status gone = watcher.Watch({}, ignore, cancel);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::kGone);

  http_.Push(FakeHttpClient::Fail(Error::Timeout("stream idle")));
  Status idle = watcher.Watch({}, ignore, cancel);
  ASSERT_FALSE(idle.ok());
  EXPECT_EQ(idle.error().kind, ErrorKind::kTimeout);

  http_.Push(FakeHttpClient::Respond(403, StatusBody(403, "Forbidden", "no")));
  EXPECT_EQ(watcher.Watch({}, ignore, cancel).error().kind, ErrorKind::kUnauthorized);

  // A watch stopped by its owner is not a failure.
  FakeHttpClient::Reply reply = FakeHttpClient::Respond(200, "");
  reply.chunks = {"a", "b"};
  http_.Push(reply);
  cancel.Cancel();
  EXPECT_TRUE(watcher.Watch({}, ignore, cancel).ok());
}

TEST_F(RestTest, ListWatcherListPageIsTheRawPage) {
  RestListWatcher watcher(rest_, CoreResource("nodes"));
  http_.Push(FakeHttpClient::Respond(200, Page({1}, "9", "")));
  ListOptions options;
  options.limit = 500;
  auto page = watcher.ListPage(options);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(json::parse(page.value())["metadata"]["resourceVersion"], "9");
  EXPECT_EQ(http_.requests()[0].path_and_query, "/api/v1/nodes?limit=500");
}

}  // namespace
}  // namespace nodeguard::kube
