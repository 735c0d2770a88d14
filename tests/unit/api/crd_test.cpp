// The CRD and the C++ side describe one API: these tests hold them together.
//  - C++ defaults equal the CRD's defaults (what the server stores for a
//    document equals what the decoder assumes for it);
//  - every field the encoders write exists in the CRD schema (the server
//    would silently prune a misspelt one);
//  - every sample is valid, and round-trips through the types.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "api/decode.h"
#include "api/encode.h"
#include "api/validate.h"
#include "crd_defaults.h"
#include "status_example.h"
#include "yaml_json.h"

namespace nodeguard::api {
namespace {

using nlohmann::json;

// Durations in canonical Go form ("3m" and "3m0s" are the same value).
json NormalizeDurations(json j) {
  if (j.is_string()) {
    auto d = ParseApiDuration(j.get<std::string>());
    if (d.ok()) return FormatGoDuration(*d);
  } else if (j.is_structured()) {
    for (auto& item : j) item = NormalizeDurations(item);
  }
  return j;
}

// Paths of `value` that `schema` does not declare.
void UndeclaredFields(const json& value, const json& schema, const std::string& path,
                      std::vector<std::string>* out) {
  if (value.is_object()) {
    if (schema.contains("additionalProperties")) return;  // A map: any key.
    if (!schema.contains("properties")) {
      out->push_back(path + " (schema has no properties)");
      return;
    }
    for (const auto& [name, item] : value.items()) {
      if (!schema.at("properties").contains(name)) {
        out->push_back(path + "." + name);
      } else {
        UndeclaredFields(item, schema.at("properties").at(name), path + "." + name, out);
      }
    }
  } else if (value.is_array() && schema.contains("items")) {
    for (const auto& item : value) UndeclaredFields(item, schema.at("items"), path + "[]", out);
  }
}

NodeHealthPolicySpec DecodeClean(const json& spec) {
  std::vector<FieldError> errors;
  NodeHealthPolicySpec s = DecodeSpec(spec, &errors);
  EXPECT_TRUE(errors.empty()) << JoinFieldErrors(errors);
  return s;
}

// Specs exercising each block's defaults, in addition to the samples.
const char* const kSpecs[] = {
    "{}",
    R"({"podDensity": {"maxPods": 1}})",
    R"({"podDensity": {"maxPodsPerCore": 3, "taint": {}}})",
    R"({"podDensity": {"maxPods": 9, "taint": {"value": "x"}}})",
    R"({"health": {}})",
    R"({"health": {"unhealthyConditions": [{"type": "Ready", "status": "False"}]}})",
    R"({"remediation": {}})",
    R"({"remediation": {"drain": {}}})",
    R"({"remediation": {"drain": {"podSelector": {"matchLabels": {"a": "b"}}}}})",
    R"({"resourceHygiene": {}})",
    R"({"earlyWarning": {}})",
    R"({"earlyWarning": {"adaptiveCap": {}}})",
    R"({"earlyWarning": {"hold": "0s", "adaptiveCap": {"reduceBy": 10}}})",
    R"({"nodeSelector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}})",
};

class SpecConsistencyTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SpecConsistencyTest, CppDefaultsAreTheCrdDefaults) {
  const json spec = json::parse(GetParam());
  const json defaulted = testing::ApplyDefaults(spec, testing::SpecSchema());
  EXPECT_EQ(DecodeClean(defaulted), DecodeClean(spec)) << defaulted.dump();
}

TEST_P(SpecConsistencyTest, EncodedSpecIsWhatTheServerStores) {
  // Catches a default the C++ assumes but the CRD does not declare (the
  // encoded spec would have a field the defaulted document lacks).
  const json spec = json::parse(GetParam());
  const json defaulted = testing::ApplyDefaults(spec, testing::SpecSchema());
  EXPECT_EQ(NormalizeDurations(EncodeSpec(DecodeClean(spec))), NormalizeDurations(defaulted));
}

INSTANTIATE_TEST_SUITE_P(Specs, SpecConsistencyTest, ::testing::ValuesIn(kSpecs));

TEST(SpecConsistency, ABlockWrittenOnlyToDisableItIsItsAbsentForm) {
  // The server stores the block with its defaults; the decoder cannot tell
  // it from an absent block, and nothing acts differently on it. EncodeSpec
  // therefore omits it (documented in encode.h).
  const json spec = json::parse(R"({"podDensity": {"enabled": false}})");
  const json defaulted = testing::ApplyDefaults(spec, testing::SpecSchema());
  EXPECT_EQ(DecodeClean(defaulted), DecodeClean(spec));
  EXPECT_EQ(DecodeClean(spec), NodeHealthPolicySpec{});
  EXPECT_FALSE(EncodeSpec(DecodeClean(spec)).contains("podDensity"));
}

// tests/testdata/api/defaulting-cases.json: specs and what the API server
// stored for them (captured from a real server; the integration test checks
// the server still stores exactly that).
struct DefaultingCase {
  std::string name;
  json spec;
  json defaulted;
};

void PrintTo(const DefaultingCase& c, std::ostream* os) { *os << c.name; }

std::vector<DefaultingCase> LoadDefaultingCases() {
  const json cases = json::parse(
      testing::ReadFile(std::string(NODEGUARD_TESTDATA_DIR) + "/api/defaulting-cases.json"));
  std::vector<DefaultingCase> out;
  for (const json& c : cases) out.push_back({c.at("name"), c.at("spec"), c.at("defaulted")});
  return out;
}

class ServerDefaultingTest : public ::testing::TestWithParam<DefaultingCase> {};

TEST_P(ServerDefaultingTest, TheTestsDefaultingIsTheServers) {
  EXPECT_EQ(testing::ApplyDefaults(GetParam().spec, testing::SpecSchema()), GetParam().defaulted);
}

TEST_P(ServerDefaultingTest, CppReadsWhatTheServerStores) {
  EXPECT_EQ(DecodeClean(GetParam().defaulted), DecodeClean(GetParam().spec));
  EXPECT_EQ(NormalizeDurations(EncodeSpec(DecodeClean(GetParam().spec))),
            NormalizeDurations(GetParam().defaulted));
}

INSTANTIATE_TEST_SUITE_P(Captured, ServerDefaultingTest, ::testing::ValuesIn(LoadDefaultingCases()),
                         [](const auto& param_info) {
                           std::string n = param_info.param.name;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

// ---------------------------------------------------------------- samples

std::vector<std::string> SampleFiles() {
  std::vector<std::string> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::SourceDir() + "/manifests/samples")) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class SampleTest : public ::testing::TestWithParam<std::string> {
 protected:
  json Document() const {
    auto docs = testing::YamlFileToJson(testing::SourceDir() + "/manifests/samples/" + GetParam());
    EXPECT_EQ(docs.size(), 1u);
    return docs.at(0);
  }
};

TEST_P(SampleTest, IsAValidPolicy) {
  auto parsed = ParsePolicy(Document());
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_TRUE(parsed->valid()) << JoinFieldErrors(parsed->errors, 20);
  std::vector<std::string> undeclared;
  UndeclaredFields(Document().at("spec"), testing::SpecSchema(), "spec", &undeclared);
  EXPECT_THAT(undeclared, ::testing::IsEmpty());
}

TEST_P(SampleTest, CppDefaultsAreTheCrdDefaults) {
  const json spec = Document().at("spec");
  const json defaulted = testing::ApplyDefaults(spec, testing::SpecSchema());
  EXPECT_EQ(DecodeClean(defaulted), DecodeClean(spec));
  EXPECT_EQ(NormalizeDurations(EncodeSpec(DecodeClean(spec))), NormalizeDurations(defaulted));
}

TEST_P(SampleTest, RoundTripsThroughTheTypes) {
  // YAML -> JSON -> types -> JSON -> types, and a status for it -> JSON -> types.
  auto parsed = ParsePolicy(Document());
  ASSERT_TRUE(parsed.ok());
  const NodeHealthPolicySpec& spec = parsed->policy.spec;
  EXPECT_EQ(DecodeClean(EncodeSpec(spec)), spec);

  NodeHealthPolicyStatus status = testing::FullStatus();
  status.observed_generation = parsed->policy.meta.generation;
  json object = Document();
  object["status"] = EncodeStatus(status);
  auto reparsed = ParsePolicy(object);
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(reparsed->policy.status, status);
  EXPECT_EQ(reparsed->policy.spec, spec);
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleTest, ::testing::ValuesIn(SampleFiles()),
                         [](const auto& param_info) {
                           std::string n = param_info.param.substr(0, param_info.param.size() - 5);
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

TEST(Samples, TheThreeTheIssueAsksFor) {
  EXPECT_THAT(SampleFiles(), ::testing::IsSupersetOf({"incident-workers.yaml", "drain-only.yaml",
                                                      "dry-run-audit.yaml"}));
}

TEST(Samples, IncidentPolicySaysWhatTheIncidentNeeded) {
  auto docs =
      testing::YamlFileToJson(testing::SourceDir() + "/manifests/samples/incident-workers.yaml");
  auto parsed = ParsePolicy(docs.at(0));
  ASSERT_TRUE(parsed.ok());
  const NodeHealthPolicySpec& s = parsed->policy.spec;
  EXPECT_EQ(s.pod_density.max_pods, 70);
  EXPECT_TRUE(s.pod_density.evict_overflow);  // The released-backlog overshoot.
  EXPECT_EQ(s.remediation.max_concurrent, 1);
  EXPECT_THAT(
      s.remediation.actions,
      ::testing::ElementsAre(RemediationAction::kRestartContainerRuntime,
                             RemediationAction::kRestartKubelet, RemediationAction::kReboot));
  EXPECT_EQ(s.resource_hygiene.required &
                (kube::kRequestCpu | kube::kRequestMemory | kube::kLimitCpu | kube::kLimitMemory),
            kube::kRequestCpu | kube::kRequestMemory | kube::kLimitCpu | kube::kLimitMemory);
}

// ---------------------------------------------------------------- encoders vs schema

TEST(Crd, EncodedStatusUsesOnlyDeclaredFields) {
  std::vector<std::string> undeclared;
  UndeclaredFields(EncodeStatus(testing::FullStatus()),
                   testing::CrdSchema().at("properties").at("status"), "status", &undeclared);
  EXPECT_THAT(undeclared, ::testing::IsEmpty());
}

TEST(Crd, EncodedSpecUsesOnlyDeclaredFields) {
  NodeHealthPolicySpec s;
  s.pod_density.enabled = true;
  s.pod_density.max_pods = 1;
  s.pod_density.max_pods_per_core = 1;
  s.pod_density.taint.value = "v";
  s.remediation.enabled = true;
  s.remediation.actions = {RemediationAction::kReboot};
  s.remediation.drain.grace_period_seconds = 1;
  s.remediation.drain.pod_selector.match_labels = {{"a", "b"}};
  s.resource_hygiene.enabled = true;
  s.early_warning.present = true;
  s.early_warning.adaptive_cap = AdaptiveCapSpec{};
  s.node_selector.match_expressions = {{"k", SelectorOperator::kIn, {"v"}}};
  s.health.unhealthy_conditions[0].reason = "r";
  std::vector<std::string> undeclared;
  UndeclaredFields(EncodeSpec(s), testing::SpecSchema(), "spec", &undeclared);
  EXPECT_THAT(undeclared, ::testing::IsEmpty());
}

TEST(Crd, PrinterColumnsReadFieldsTheControllerWrites) {
  auto docs =
      testing::YamlFileToJson(testing::SourceDir() + "/crds/nodeguard.io_nodehealthpolicies.yaml");
  const json& version = docs.at(0).at("spec").at("versions").at(0);
  const json status = EncodeStatus(testing::FullStatus());
  std::vector<std::string> names;
  for (const json& column : version.at("additionalPrinterColumns")) {
    names.push_back(column.at("name"));
    const std::string path = column.at("jsonPath");
    if (path.rfind(".status.", 0) == 0 && path.find('[') == std::string::npos) {
      EXPECT_TRUE(status.contains(path.substr(8))) << path;
    }
  }
  EXPECT_THAT(names, ::testing::IsSupersetOf(
                         {"Nodes", "Unhealthy", "Capped", "Remediating", "Paused", "Age"}));
}

TEST(Crd, ConditionTypesTheControllerSetsAreDocumented) {
  const std::string description = testing::CrdSchema()
                                      .at("properties")
                                      .at("status")
                                      .at("properties")
                                      .at("conditions")
                                      .at("description");
  for (const char* type :
       {kConditionReady, kConditionPaused, kConditionStormDetected, kConditionDegraded}) {
    EXPECT_THAT(description, ::testing::HasSubstr(std::string("`") + type + "`"));
  }
}

}  // namespace
}  // namespace nodeguard::api
