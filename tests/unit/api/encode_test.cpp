#include "api/encode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/decode.h"
#include "common/time.h"
#include "status_example.h"
#include "yaml_json.h"

namespace nodeguard::api {
namespace {

using nlohmann::json;

NodeHealthPolicyStatus RoundTrip(const NodeHealthPolicyStatus& s) {
  std::vector<FieldError> errors;
  NodeHealthPolicyStatus back = DecodeStatus(EncodeStatus(s), &errors);
  EXPECT_TRUE(errors.empty()) << JoinFieldErrors(errors);
  return back;
}

TEST(EncodeStatus, FullStatusRoundTrips) {
  EXPECT_EQ(RoundTrip(testing::FullStatus()), testing::FullStatus());
}

TEST(EncodeStatus, MatchesTheGoldenFile) {
  // The integration test writes this file through the API server, so the
  // encoder's field names are checked against the CRD's status schema there.
  const json golden = json::parse(
      testing::ReadFile(std::string(NODEGUARD_TESTDATA_DIR) + "/api/status-example.json"));
  EXPECT_EQ(EncodeStatus(testing::FullStatus()), golden)
      << EncodeStatus(testing::FullStatus()).dump(2);
}

TEST(EncodeStatus, EmptyStatusWritesCountsAndNothingElse) {
  EXPECT_EQ(EncodeStatus({}), json::parse(R"({"observedGeneration": 0, "selectedNodes": 0,
      "readyNodes": 0, "unhealthyNodes": 0, "cappedNodes": 0, "remediatingNodes": 0,
      "podsFlagged": 0})"));
  EXPECT_EQ(RoundTrip({}), NodeHealthPolicyStatus{});
}

TEST(EncodeStatus, OmitsUnsetOptionalRemediationFields) {
  NodeHealthPolicyStatus s;
  RemediationStatus r;
  r.node = "n";
  r.started_at = *ParseRfc3339("2026-01-01T00:00:00Z");
  s.remediations = {r};
  const json j = EncodeStatus(s).at("remediations").at(0);
  EXPECT_EQ(j, json::parse(R"({"node": "n", "phase": "Cordoning", "attempt": 1,
                               "startedAt": "2026-01-01T00:00:00Z"})"));
  EXPECT_EQ(RoundTrip(s), s);
}

TEST(EncodeStatus, TruncatesBoundedListsToTheCrdMaxItems) {
  NodeHealthPolicyStatus s;
  for (int i = 0; i < 80; ++i) {
    s.density_capped_nodes.push_back({"n" + std::to_string(i), 70, 70});
    s.nodes_without_system_reserve.push_back("n" + std::to_string(i));
    s.conflicts.push_back({"n" + std::to_string(i), "p"});
    s.resource_hygiene.example_pods.push_back({"ns", "p" + std::to_string(i), ""});
    s.resource_hygiene.namespaces.push_back({"ns" + std::to_string(i), 1});
    s.recent_remediations.push_back(RemediationStatus{});
  }
  const json j = EncodeStatus(s);
  EXPECT_EQ(j.at("densityCappedNodes").size(), kMaxStatusNodes);
  EXPECT_EQ(j.at("densityCappedNodes").back().at("node"), "n49");  // The first ones are kept.
  EXPECT_EQ(j.at("nodesWithoutSystemReserve").size(), kMaxStatusNodes);
  EXPECT_EQ(j.at("conflicts").size(), kMaxStatusNodes);
  EXPECT_EQ(j.at("resourceHygiene").at("examplePods").size(), kMaxExamplePods);
  EXPECT_EQ(j.at("resourceHygiene").at("namespaces").size(), kMaxNamespaceFindings);
  EXPECT_EQ(j.at("recentRemediations").size(), kMaxRecentRemediations);
}

TEST(StatusUpdateBody, CarriesIdentityAndResourceVersion) {
  kube::ObjectMeta meta;
  meta.name = "workers";
  meta.resource_version = "123";
  meta.uid = "not-sent";
  const json body = StatusUpdateBody(meta, {});
  EXPECT_EQ(body.at("apiVersion"), "nodeguard.io/v1alpha1");
  EXPECT_EQ(body.at("kind"), "NodeHealthPolicy");
  EXPECT_EQ(body.at("metadata"), json::parse(R"({"name": "workers", "resourceVersion": "123"})"));
  EXPECT_EQ(body.at("status"), EncodeStatus({}));
  meta.resource_version.clear();
  EXPECT_FALSE(StatusUpdateBody(meta, {}).at("metadata").contains("resourceVersion"));
}

TEST(EncodeSpec, DefaultSpecWritesDefaultsAndOmitsAbsentBlocks) {
  const json j = EncodeSpec({});
  EXPECT_EQ(j, json::parse(R"({
    "nodeSelector": {}, "paused": false, "dryRun": false,
    "health": {"unhealthyConditions": [
      {"type": "Ready", "status": "False", "messageRegex": "PLEG is not healthy", "duration": "3m0s"},
      {"type": "Ready", "status": "Unknown", "duration": "5m0s"}]}
  })"));
}

TEST(EncodeSpec, DisabledBlockWithSettingsIsKept) {
  NodeHealthPolicySpec s;
  s.pod_density.max_pods = 50;  // enabled stays false
  const json j = EncodeSpec(s);
  ASSERT_TRUE(j.contains("podDensity"));
  EXPECT_EQ(j.at("podDensity").at("enabled"), false);
  std::vector<FieldError> errors;
  EXPECT_EQ(DecodeSpec(j, &errors), s);
  EXPECT_TRUE(errors.empty());
}

}  // namespace
}  // namespace nodeguard::api
