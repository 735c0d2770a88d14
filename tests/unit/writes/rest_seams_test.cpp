// The REST implementations of the write seams (writes/rest_seams.h,
// writes/rest_drain_api.h) over the shared FakeApiServer: the URL, verb,
// content type, body and resourceVersion each request carries, what joins
// the node view, and how errors come back.

#include "writes/rest_seams.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/api_server.h"
#include "hygiene/decide.h"
#include "kube/rest.h"
#include "kube/store.h"
#include "writes/rest_drain_api.h"

namespace nodeguard::writes {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const WallTime kT0 = WallTime(std::chrono::hours(24 * 365 * 56));

kube::RestOptions OneAttempt() {
  kube::RestOptions o;
  o.max_attempts = 1;
  o.sleep = [](std::chrono::milliseconds) {};
  return o;
}

std::string ContentType(const kube::HttpRequest& r) {
  auto it = r.headers.find("Content-Type");
  return it == r.headers.end() ? "" : it->second;
}

std::string PathOf(const kube::HttpRequest& r) {
  return r.path_and_query.substr(0, r.path_and_query.find('?'));
}

class RestSeamsTest : public ::testing::Test {
 protected:
  RestSeamsTest() {
    EXPECT_TRUE(kube::AddPodIndexes(pods).ok());
    std::lock_guard lock(server.mu);
    server.inject = [this](const kube::HttpRequest& r) -> std::optional<kube::HttpResponse> {
      seen.push_back(r);  // Under server.mu.
      if (answer) return answer(r);
      return std::nullopt;
    };
  }
  // The requests sent so far.
  std::vector<kube::HttpRequest> Seen() {
    std::lock_guard lock(server.mu);
    return seen;
  }
  std::string ServerVersion(const std::string& node) {
    return server.Node(node)["metadata"]["resourceVersion"].get<std::string>();
  }

  kube::Store<kube::Node> nodes;
  kube::Store<kube::Pod> pods;
  fakes::FakeApiServer server{nodes, pods};
  kube::RestClient rest{server, OneAttempt()};
  std::vector<kube::HttpRequest> seen;  // Guarded by server.mu.
  // Answers a request before the fake when set (under server.mu).
  std::function<std::optional<kube::HttpResponse>(const kube::HttpRequest&)> answer;
};

// ---------------------------------------------------------------- NodeWriter

TEST_F(RestSeamsTest, AConditionalNodePatchIsAMergePatchWhoseAnswerJoinsTheView) {
  server.AddNode("w1", kT0, "boot-1");
  const auto cached = nodes.Get("", "w1");
  server.HoldInformer(true);  // The informer lags behind our own write.
  RestNodeWriter writer(rest);
  NodePatch patch;
  patch.annotations["nodeguard.io/remediation"] = "{\"phase\":\"Cordoned\"}";
  patch.unschedulable = true;
  auto written = writer.Patch("w1", patch, cached->meta.resource_version);
  ASSERT_TRUE(written.ok()) << written.error().ToString();
  ASSERT_NE(*written, nullptr);
  EXPECT_TRUE((*written)->unschedulable);
  EXPECT_EQ((*written)->meta.resource_version, ServerVersion("w1"));

  const auto sent = Seen();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "PATCH");
  EXPECT_EQ(PathOf(sent[0]), "/api/v1/nodes/w1");
  EXPECT_EQ(ContentType(sent[0]), kube::PatchContentType(kube::PatchType::kMerge));
  EXPECT_EQ(sent[0].body, EncodeNodePatch(patch, cached->meta.resource_version));
  EXPECT_EQ(json::parse(sent[0].body)["metadata"]["resourceVersion"],
            cached->meta.resource_version);

  std::vector<std::shared_ptr<const kube::Node>> list = {cached};
  writer.Freshen(list);
  EXPECT_EQ(list[0]->meta.resource_version, ServerVersion("w1")) << "read your writes";
  EXPECT_TRUE(list[0]->unschedulable);
}

TEST_F(RestSeamsTest, AConflictReadsTheNodeAgainIntoTheView) {
  server.AddNode("w1", kT0, "boot-1");
  const auto cached = nodes.Get("", "w1");
  server.HoldInformer(true);
  server.SetAnnotation("w1", "example.com/touched", "by the kubelet");  // The node moved on.
  RestNodeWriter writer(rest);
  NodePatch cordon;
  cordon.unschedulable = true;
  auto written = writer.Patch("w1", cordon, cached->meta.resource_version);
  ASSERT_FALSE(written.ok());
  EXPECT_TRUE(written.error().Is(ErrorKind::kConflict)) << written.error().ToString();
  const auto sent = Seen();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].method, "GET");
  EXPECT_EQ(PathOf(sent[1]), "/api/v1/nodes/w1");
  EXPECT_FALSE(server.Unschedulable("w1")) << "nothing written on the strength of the read";

  std::vector<std::shared_ptr<const kube::Node>> list = {cached};
  writer.Freshen(list);
  EXPECT_EQ(list[0]->meta.resource_version, ServerVersion("w1"));
}

TEST_F(RestSeamsTest, AnUnconditionalNodePatchCarriesNoVersionAndLeavesTheViewAlone) {
  server.AddNode("w1", kT0, "boot-1");
  const auto cached = nodes.Get("", "w1");
  server.HoldInformer(true);
  RestNodeWriter writer(rest);
  NodePatch record;
  record.annotations["nodeguard.io/early-warning-announced"] = "Degraded 2026-12-07T10:00:00Z";
  auto written = writer.Patch("w1", record, "");
  ASSERT_TRUE(written.ok()) << written.error().ToString();
  EXPECT_EQ(*written, nullptr);
  EXPECT_EQ(Seen().at(0).body,
            R"({"metadata":{"annotations":{"nodeguard.io/early-warning-announced":)"
            R"("Degraded 2026-12-07T10:00:00Z"}}})");
  EXPECT_EQ(server.Annotation("w1", "nodeguard.io/early-warning-announced"),
            "Degraded 2026-12-07T10:00:00Z");
  std::vector<std::shared_ptr<const kube::Node>> list = {cached};
  writer.Freshen(list);
  EXPECT_EQ(list[0], cached);
}

TEST_F(RestSeamsTest, AJsonPatchWhoseTestFailsIsAConflict) {
  RestNodeWriter writer(rest);
  const std::string patch = R"([{"op":"test","path":"/metadata/resourceVersion","value":"7"},)"
                            R"({"op":"add","path":"/spec/taints","value":[]}])";
  answer = [](const kube::HttpRequest&) -> std::optional<kube::HttpResponse> {
    return fakes::StatusResponse(422, "Invalid", "the server rejected our request due to an error");
  };
  Status s = writer.PatchJson("w1", patch);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().Is(ErrorKind::kConflict)) << s.error().ToString();
  const auto sent = Seen();
  ASSERT_EQ(sent.size(), 1u) << "never retried: the caller decides again";
  EXPECT_EQ(sent[0].method, "PATCH");
  EXPECT_EQ(PathOf(sent[0]), "/api/v1/nodes/w1");
  EXPECT_EQ(ContentType(sent[0]), kube::PatchContentType(kube::PatchType::kJson));
  EXPECT_EQ(sent[0].body, patch);

  answer = [](const kube::HttpRequest&) -> std::optional<kube::HttpResponse> {
    return fakes::StatusResponse(403, "Forbidden");
  };
  s = writer.PatchJson("w1", patch);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().Is(ErrorKind::kUnauthorized)) << s.error().ToString();
  answer = [](const kube::HttpRequest&) -> std::optional<kube::HttpResponse> {
    return kube::HttpResponse{200, {}, "{}"};
  };
  EXPECT_TRUE(writer.PatchJson("w1", patch).ok());
}

// ---------------------------------------------------------------- PodAnnotator

TEST_F(RestSeamsTest, APodAnnotationIsAMergePatchConditionalOnItsVersion) {
  server.AddPod("team", "web", "w1");
  const std::string rv = pods.Get("team", "web")->meta.resource_version;
  RestPodAnnotator annotator(rest);
  const std::string key(hygiene::kFindingsAnnotation);
  ASSERT_TRUE(annotator.Annotate("team", "web", rv, key, "requests.cpu").ok());
  ASSERT_TRUE(annotator.Annotate("team", "web", rv, key, std::nullopt).ok());
  {
    std::lock_guard lock(server.mu);
    EXPECT_EQ(server.pod_patches,
              (std::vector<std::string>{"team/web=requests.cpu", "team/web=<removed>"}));
  }
  const auto sent = Seen();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].method, "PATCH");
  EXPECT_EQ(PathOf(sent[0]), "/api/v1/namespaces/team/pods/web");
  EXPECT_EQ(ContentType(sent[0]), kube::PatchContentType(kube::PatchType::kMerge));
  EXPECT_EQ(
      json::parse(sent[0].body),
      json({{"metadata", {{"resourceVersion", rv}, {"annotations", {{key, "requests.cpu"}}}}}}));
  EXPECT_TRUE(json::parse(sent[1].body)["metadata"]["annotations"][key].is_null());

  Status stale = annotator.Annotate("team", "web", "1", key, "x");
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(stale.error().Is(ErrorKind::kConflict)) << stale.error().ToString();
  Status gone = annotator.Annotate("team", "nope", rv, key, "x");
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(gone.error().Is(ErrorKind::kNotFound)) << gone.error().ToString();
}

// ---------------------------------------------------------------- Events

TEST_F(RestSeamsTest, EventsAreCreatedByTheirOwnNameAndListedByReason) {
  RestEvents events(rest);
  kube::EventRecord e;
  e.name = "web.missing-resources";
  e.namespace_ = "team";
  e.involved = {"Pod", "v1", "team", "web", "uid-web"};
  e.type = kube::EventType::kWarning;
  e.reason = "MissingResourceRequirements";
  e.message = "container app has no requests.cpu";
  e.component = "nodeguard";
  e.first_timestamp = e.last_timestamp = kT0;
  ASSERT_TRUE(events.Create(e).ok());
  Status again = events.Create(e);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().Is(ErrorKind::kAlreadyExists)) << again.error().ToString();
  auto sent = Seen();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(PathOf(sent[0]), "/api/v1/namespaces/team/events");
  EXPECT_EQ(json::parse(sent[0].body), json::parse(e.ToJson()));

  auto listed = events.ListByReason("MissingResourceRequirements");
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  sent = Seen();
  EXPECT_EQ(sent.back().method, "GET");
  EXPECT_EQ(sent.back().path_and_query.rfind(
                "/api/v1/events?fieldSelector=reason%3DMissingResourceRequirements", 0),
            0u)
      << sent.back().path_and_query;
  ASSERT_EQ(listed->size(), 1u);
  const EventSummary& s = listed->front();
  EXPECT_EQ(s.involved_kind, "Pod");
  EXPECT_EQ(s.involved_namespace, "team");
  EXPECT_EQ(s.involved_name, "web");
  EXPECT_EQ(s.involved_uid, "uid-web");
  EXPECT_EQ(s.source_component, "nodeguard");
  EXPECT_TRUE(events.ListByReason("NoSystemReserve")->empty());

  answer = [](const kube::HttpRequest&) -> std::optional<kube::HttpResponse> {
    return fakes::StatusResponse(403, "Forbidden");
  };
  auto denied = events.ListByReason("MissingResourceRequirements");
  ASSERT_FALSE(denied.ok());
  EXPECT_TRUE(denied.error().Is(ErrorKind::kUnauthorized)) << denied.error().ToString();
}

// ---------------------------------------------------------------- PolicyReports

TEST_F(RestSeamsTest, PolicyReportsAreDiscoveredListedAppliedAndDeleted) {
  RestPolicyReports reports(rest);
  auto served = reports.Served();
  ASSERT_TRUE(served.ok()) << served.error().ToString();
  EXPECT_FALSE(*served) << "a group the server does not know is not an error";
  EXPECT_EQ(Seen().at(0).path_and_query, "/apis/wgpolicyk8s.io/v1alpha2");
  {
    std::lock_guard lock(server.mu);
    server.reports_api = true;
    server.reports["old/nodeguard-p"] = {
        {"metadata", {{"namespace", "old"}, {"name", "nodeguard-p"}}}};
  }
  EXPECT_TRUE(reports.Served().value());

  auto managed = reports.ListManaged();
  ASSERT_TRUE(managed.ok()) << managed.error().ToString();
  EXPECT_EQ(*managed, (std::set<std::pair<std::string, std::string>>{{"old", "nodeguard-p"}}));
  EXPECT_EQ(Seen().back().path_and_query.rfind(
                "/apis/wgpolicyk8s.io/v1alpha2/policyreports?labelSelector="
                "app.kubernetes.io%2Fmanaged-by%3Dnodeguard",
                0),
            0u)
      << Seen().back().path_and_query;

  // The fake checks the apply's content type, field manager and force.
  const std::string body = R"({"apiVersion":"wgpolicyk8s.io/v1alpha2","kind":"PolicyReport"})";
  ASSERT_TRUE(reports.Apply("team", "nodeguard-p", body).ok());
  EXPECT_EQ(Seen().back().method, "PATCH");
  EXPECT_EQ(PathOf(Seen().back()),
            "/apis/wgpolicyk8s.io/v1alpha2/namespaces/team/policyreports/nodeguard-p");
  EXPECT_EQ(Seen().back().body, body);
  ASSERT_TRUE(reports.Delete("team", "nodeguard-p").ok());
  EXPECT_EQ(Seen().back().method, "DELETE");
  Status again = reports.Delete("team", "nodeguard-p");
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().Is(ErrorKind::kNotFound));
}

// ---------------------------------------------------------------- Finalizers

TEST_F(RestSeamsTest, FinalizersAreAMergePatchOfThePolicyConditionalOnItsVersion) {
  RestFinalizers finalizers(rest);
  answer = [](const kube::HttpRequest&) -> std::optional<kube::HttpResponse> {
    return kube::HttpResponse{200, {}, "{}"};
  };
  ASSERT_TRUE(finalizers.Set("p", "7", {"example.com/keep", "nodeguard.io/cleanup"}).ok());
  const auto sent = Seen();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "PATCH");
  EXPECT_EQ(PathOf(sent[0]), "/apis/nodeguard.io/v1alpha1/nodehealthpolicies/p");
  EXPECT_EQ(ContentType(sent[0]), kube::PatchContentType(kube::PatchType::kMerge));
  EXPECT_EQ(json::parse(sent[0].body),
            json({{"metadata",
                   {{"finalizers", {"example.com/keep", "nodeguard.io/cleanup"}},
                    {"resourceVersion", "7"}}}}));

  answer = [](const kube::HttpRequest&) -> std::optional<kube::HttpResponse> {
    return fakes::StatusResponse(409, "Conflict", "the object has been modified");
  };
  Status stale = finalizers.Set("p", "6", {});
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(stale.error().Is(ErrorKind::kConflict)) << stale.error().ToString();
}

// ---------------------------------------------------------------- DrainApi

TEST_F(RestSeamsTest, TheDrainApiListsANodesPodsAndEvictsThisIncarnation) {
  server.AddPod("team", "web", "w1");
  server.AddPod("team", "other", "w2");
  RestDrainApi api(rest, &pods, &nodes);
  api::LabelSelector selector;
  selector.match_labels = {{"app", "web"}};
  auto listed = api.ListPods("w1", selector);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  EXPECT_EQ(Seen().back().path_and_query,
            "/api/v1/pods?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dw1&limit=500");

  const auto result = api.Evict({"team", "web", "uid-team-web"}, 30);
  EXPECT_EQ(result.outcome, remediation::EvictionOutcome::kAccepted);
  const kube::HttpRequest evict = Seen().back();
  EXPECT_EQ(evict.method, "POST");
  EXPECT_EQ(evict.path_and_query, "/api/v1/namespaces/team/pods/web/eviction");
  const json body = json::parse(evict.body);
  EXPECT_EQ(body["kind"], "Eviction");
  EXPECT_EQ(body["deleteOptions"]["preconditions"]["uid"], "uid-team-web");
  EXPECT_EQ(body["deleteOptions"]["gracePeriodSeconds"], 30);
  EXPECT_FALSE(server.HasPod("team/web"));

  server.BlockEviction("team/other", "other-pdb");
  const auto blocked = api.Evict({"team", "other", "uid-team-other"}, std::nullopt);
  EXPECT_EQ(blocked.outcome, remediation::EvictionOutcome::kTooManyRequests);
  EXPECT_EQ(blocked.pdb_name, "other-pdb");
}

TEST(LabelSelectorStringTest, AllOperators) {
  api::LabelSelector s;
  EXPECT_EQ(LabelSelectorString(s), "");
  s.match_labels = {{"app", "web"}, {"tier", "front"}};
  s.match_expressions = {{"env", api::SelectorOperator::kIn, {"a", "b"}},
                         {"zone", api::SelectorOperator::kNotIn, {"z"}},
                         {"canary", api::SelectorOperator::kExists, {}},
                         {"legacy", api::SelectorOperator::kDoesNotExist, {}}};
  EXPECT_EQ(LabelSelectorString(s),
            "app=web,tier=front,env in (a,b),zone notin (z),canary,!legacy");
}

TEST(ClassifyEvictionResponseTest, NamesTheBlockingBudget) {
  kube::HttpResponse r;
  r.status = 429;
  r.body = R"({"kind":"Status","code":429,"reason":"TooManyRequests",
    "message":"Cannot evict pod as it would violate the pod's disruption budget.",
    "details":{"causes":[{"reason":"DisruptionBudget",
      "message":"The disruption budget web-pdb needs 2 healthy pods and has 2 currently"}]}})";
  auto result = ClassifyEvictionResponse(r);
  EXPECT_EQ(result.outcome, remediation::EvictionOutcome::kTooManyRequests);
  EXPECT_EQ(result.pdb_name, "web-pdb");

  r.status = 403;
  r.body = R"({"kind":"Status","code":403,"reason":"Forbidden","message":"ns is terminating",
    "details":{"causes":[{"reason":"NamespaceTerminating","message":"ns is terminating"}]}})";
  EXPECT_EQ(ClassifyEvictionResponse(r).outcome,
            remediation::EvictionOutcome::kNamespaceTerminating);

  r.status = 500;
  r.body = "not json";
  EXPECT_EQ(ClassifyEvictionResponse(r).outcome, remediation::EvictionOutcome::kRetryable);
  r.status = 404;
  r.body = R"({"kind":"Status","code":404,"reason":"NotFound","message":"gone"})";
  EXPECT_EQ(ClassifyEvictionResponse(r).outcome, remediation::EvictionOutcome::kNotFound);
}

}  // namespace
}  // namespace nodeguard::writes
