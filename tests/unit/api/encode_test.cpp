#include "api/encode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/decode.h"
#include "common/text.h"
#include "common/time.h"
#include "crd_defaults.h"
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

// ---------------------------------------------------------------- string bounds

// Characters of a UTF-8 string, as the API server counts a maxLength.
size_t Runes(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// 100 KB of text whose 3-byte characters straddle every cut position.
std::string Huge() {
  std::string s = "x";
  while (s.size() < 100000) s += "\xE2\x82\xAC pod-";  // "€ pod-"
  return s;
}

NodeHealthPolicyStatus StatusWithHugeStrings() {
  NodeHealthPolicyStatus s = testing::FullStatus();
  for (Condition& c : s.conditions) {
    c.message = Huge();
    c.reason = "Reason" + std::string(5000, 'x');
  }
  for (RemediationStatus& r : s.remediations) r.message = Huge();
  for (RemediationStatus& r : s.recent_remediations) r.message = Huge();
  for (FlaggedPod& p : s.resource_hygiene.example_pods) p.findings = Huge();
  return s;
}

// Every string the status schema bounds with a maxLength, walked in the
// encoded status: none exceeds it (the API server would reject the write).
void CheckMaxLengths(const json& value, const json& schema, const std::string& path, int* checked) {
  if (value.is_string() && schema.contains("maxLength")) {
    ++*checked;
    EXPECT_LE(Runes(value.get<std::string>()), schema.at("maxLength").get<size_t>()) << path;
  }
  if (value.is_object() && schema.contains("properties")) {
    for (const auto& [k, v] : value.items()) {
      if (schema.at("properties").contains(k)) {
        CheckMaxLengths(v, schema.at("properties").at(k), path + "." + k, checked);
      }
    }
  }
  if (value.is_array() && schema.contains("items")) {
    for (const json& item : value) CheckMaxLengths(item, schema.at("items"), path + "[]", checked);
  }
}

TEST(EncodeStatus, EveryBoundedStringFitsTheCrdMaxLength) {
  const json encoded = EncodeStatus(StatusWithHugeStrings());
  int checked = 0;
  CheckMaxLengths(encoded, testing::CrdSchema().at("properties").at("status"), "status", &checked);
  // conditions[].reason and .message, remediations[].message, recentRemediations[].message,
  // examplePods[].findings, and conditions[].type.
  EXPECT_GE(checked, 6);
  EXPECT_FALSE(encoded.dump().empty()) << "a cut inside a UTF-8 sequence makes dump() throw";
}

TEST(EncodeStatus, BoundsAreTheCrdsMaxLengths) {
  const json& status = testing::CrdSchema().at("properties").at("status").at("properties");
  auto max_length = [&](const json& object, const char* field) {
    return object.at("properties").at(field).at("maxLength").get<size_t>();
  };
  EXPECT_EQ(max_length(status.at("conditions").at("items"), "message"), kMaxConditionMessageLength);
  EXPECT_EQ(max_length(status.at("conditions").at("items"), "reason"), kMaxConditionReasonLength);
  EXPECT_EQ(max_length(status.at("remediations").at("items"), "message"),
            kMaxRemediationMessageLength);
  EXPECT_EQ(max_length(status.at("recentRemediations").at("items"), "message"),
            kMaxRemediationMessageLength);
  EXPECT_EQ(max_length(status.at("resourceHygiene").at("properties").at("examplePods").at("items"),
                       "findings"),
            kMaxFindingsLength);
}

TEST(EncodeStatus, ALongRemediationMessageEndsWithAnEllipsis) {
  NodeHealthPolicyStatus s;
  RemediationStatus r;
  r.node = "n";
  r.started_at = *ParseRfc3339("2026-01-01T00:00:00Z");
  r.message = Huge();
  s.remediations = {r};
  const std::string m = EncodeStatus(s).at("remediations").at(0).at("message");
  EXPECT_LE(m.size(), kMaxRemediationMessageLength);
  EXPECT_GE(m.size(), kMaxRemediationMessageLength - 2 - kEllipsis.size());
  EXPECT_EQ(m.substr(m.size() - kEllipsis.size()), kEllipsis);
  EXPECT_EQ(m.substr(0, 20), r.message.substr(0, 20));

  // A message that fits is written as it is.
  r.message = "drained 3 pods";
  s.remediations = {r};
  EXPECT_EQ(EncodeStatus(s).at("remediations").at(0).at("message"), "drained 3 pods");
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
