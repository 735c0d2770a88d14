#include "api/validate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/decode.h"
#include "yaml_json.h"

namespace nodeguard::api {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// tests/testdata/api/invalid-specs.json: the cases the integration test also
// sends to the API server, so admission and nodeguard agree case by case.
struct InvalidCase {
  std::string name;
  json spec;
  std::string field;
  std::string message;  // Substring of nodeguard's message.
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name << ": " << c.spec.dump(); }

std::vector<InvalidCase> LoadInvalidCases() {
  const json cases = json::parse(
      testing::ReadFile(std::string(NODEGUARD_TESTDATA_DIR) + "/api/invalid-specs.json"));
  std::vector<InvalidCase> out;
  for (const json& c : cases) {
    out.push_back({c.at("name"), c.at("spec"), c.at("field"),
                   c.contains("cpp_message") ? c.at("cpp_message") : c.at("message")});
  }
  return out;
}

class InvalidSpecTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidSpecTest, ReportsExactlyTheBrokenRule) {
  const InvalidCase& c = GetParam();
  auto parsed = ParsePolicy(json{{"apiVersion", kApiVersion},
                                 {"kind", kKind},
                                 {"metadata", {{"name", "invalid"}}},
                                 {"spec", c.spec}});
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  ASSERT_EQ(parsed->errors.size(), 1u) << JoinFieldErrors(parsed->errors, 10);
  EXPECT_EQ(parsed->errors[0].field, c.field);
  EXPECT_THAT(parsed->errors[0].message, HasSubstr(c.message));
}

INSTANTIATE_TEST_SUITE_P(SharedWithTheApiServer, InvalidSpecTest,
                         ::testing::ValuesIn(LoadInvalidCases()), [](const auto& param_info) {
                           std::string n = param_info.param.name;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

TEST(InvalidSpecs, CoverAtLeastTwentyRules) { EXPECT_GE(LoadInvalidCases().size(), 20u); }

// Specs at the edge of a rule, on the valid side.
struct ValidCase {
  const char* name;
  const char* spec;
};

class ValidSpecTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidSpecTest, IsAccepted) {
  std::vector<FieldError> errors;
  const NodeHealthPolicySpec spec = DecodeSpec(json::parse(GetParam().spec), &errors);
  ASSERT_TRUE(errors.empty()) << JoinFieldErrors(errors);
  EXPECT_TRUE(Validate(spec).empty()) << JoinFieldErrors(Validate(spec));
}

INSTANTIATE_TEST_SUITE_P(
    EdgeCases, ValidSpecTest,
    ::testing::Values(
        ValidCase{"Empty", "{}"}, ValidCase{"EarlyWarningDefaults", R"({"earlyWarning": {}})"},
        ValidCase{"EarlyWarningCalmJustBelowTheEntryMarks",
                  R"({"earlyWarning": {"calmRelistP99": "999ms", "calmLastRelistAge": "29s"}})"},
        ValidCase{"EarlyWarningNoHold", R"({"earlyWarning": {"hold": "0s"}})"},
        ValidCase{"AdaptiveCapOnePercent",
                  R"({"earlyWarning": {"adaptiveCap": {"reduceBy": "1%"}}})"},
        ValidCase{"AdaptiveCap99Percent",
                  R"({"earlyWarning": {"adaptiveCap": {"reduceBy": "99%"}}})"},
        ValidCase{"AdaptiveCapOnePod", R"({"earlyWarning": {"adaptiveCap": {"reduceBy": 1}}})"},
        ValidCase{"AdaptiveCap1000Pods",
                  R"({"earlyWarning": {"adaptiveCap": {"reduceBy": 1000}}})"},
        ValidCase{"ReleaseBelowJustUnderTheCap",
                  R"({"podDensity": {"maxPods": 70, "releaseBelow": 69}})"},
        ValidCase{"ReleaseBelowAtTheTaintMark",
                  R"({"podDensity": {"maxPods": 70, "taintAhead": 2, "releaseBelow": 68}})"},
        ValidCase{"ReleaseBelow99Percent",
                  R"({"podDensity": {"maxPods": 1, "releaseBelow": "99%"}})"},
        ValidCase{"ReleaseBelowZero", R"({"podDensity": {"maxPods": 1, "releaseBelow": 0}})"},
        // An absolute releaseBelow cannot be checked against a per-core cap here.
        ValidCase{"ReleaseBelowCountWithPerCoreCap",
                  R"({"podDensity": {"maxPodsPerCore": 10, "releaseBelow": 500}})"},
        ValidCase{"DisabledDensityNeedsNoCap", R"({"podDensity": {"enabled": false}})"},
        ValidCase{"PreferNoSchedule",
                  R"({"podDensity": {"maxPods": 9, "taint": {"effect": "PreferNoSchedule"}}})"},
        ValidCase{
            "PrefixedTaintKeyAndValue",
            R"({"podDensity": {"maxPods": 9, "taint": {"key": "example.com/full", "value": "a.b-c_d"}}})"},
        ValidCase{"ExternalAlone", R"({"remediation": {"actions": ["External"]}})"},
        ValidCase{
            "ExternalLast",
            R"({"remediation": {"actions": ["RestartContainerRuntime", "Reboot", "External"]}})"},
        ValidCase{"MaxUnhealthyZeroWhenDisabled",
                  R"({"remediation": {"enabled": false, "maxUnhealthy": 0}})"},
        ValidCase{"MaxUnhealthy100Percent", R"({"remediation": {"maxUnhealthy": "100%"}})"},
        ValidCase{"ZeroDurationsWhereAllowed",
                  R"({"remediation": {"cooldown": "0s", "recoveryStableFor": "0s"},
                      "health": {"unhealthyConditions": [{"type": "Ready", "status": "Unknown", "duration": "0s"}]}})"},
        ValidCase{"MaxUnhealthyInt32Max", R"({"remediation": {"maxUnhealthy": 2147483647}})"},
        ValidCase{
            "MessageRegexWithInlineFlags",
            R"({"health": {"unhealthyConditions": [{"type": "Ready", "status": "False", "messageRegex": "(?i)pleg is not healthy"}]}})"},
        ValidCase{"HygieneOnlyFlagsNodes",
                  R"({"resourceHygiene": {"requiredRequests": [], "requiredLimits": []}})"},
        ValidCase{
            "ConditionTypeWithDomain",
            R"({"health": {"unhealthyConditions": [{"type": "example.com/KernelDeadlock", "status": "True"}]}})"},
        ValidCase{"SelectorOperators",
                  R"({"nodeSelector": {"matchLabels": {"node-role.kubernetes.io/worker": ""},
                      "matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]},
                                           {"key": "b", "operator": "Exists"}]}})"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Validate, DefaultSpecIsValid) { EXPECT_TRUE(Validate(NodeHealthPolicySpec{}).empty()); }

TEST(Validate, ReportsEveryBrokenRuleAtOnce) {
  NodeHealthPolicySpec s;
  s.pod_density.enabled = true;  // No cap.
  s.remediation.max_concurrent = 0;
  s.health.unhealthy_conditions.clear();
  const auto errors = Validate(s);
  ASSERT_EQ(errors.size(), 3u) << JoinFieldErrors(errors);
  EXPECT_EQ(errors[0].field, "spec.podDensity");
  EXPECT_EQ(errors[1].field, "spec.health.unhealthyConditions");
  EXPECT_EQ(errors[2].field, "spec.remediation.maxConcurrent");
}

TEST(Validate, NegativeDurationsConstructedInCode) {
  NodeHealthPolicySpec s;
  s.remediation.cooldown = std::chrono::seconds(-1);
  const auto errors = Validate(s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].ToString(), "spec.remediation.cooldown: must not be negative");
}

TEST(Names, QualifiedName) {
  for (const char* ok : {"a", "node-role.kubernetes.io/worker", "nodeguard.io/pod-density-exceeded",
                         "A_b.c-D", "x/y"}) {
    EXPECT_TRUE(IsQualifiedName(ok)) << ok;
  }
  // std::string, not const char*: a temporary's c_str() in the range-init
  // dangles by the first iteration (before C++23's lifetime extension).
  const std::string too_long(64, 'a');
  for (const std::string& bad :
       std::vector<std::string>{"", "-a", "a-", "a b", "/a", "a/", "Example.com/a", "a/b/c", "a/-b",
                                "a..b/c", too_long}) {
    EXPECT_FALSE(IsQualifiedName(bad)) << bad;
  }
  EXPECT_TRUE(IsQualifiedName(std::string(63, 'a')));
}

TEST(Names, LabelValueAndDns1123Label) {
  EXPECT_TRUE(IsLabelValue(""));
  EXPECT_TRUE(IsLabelValue("a.B_c-1"));
  EXPECT_FALSE(IsLabelValue("-a"));
  EXPECT_FALSE(IsLabelValue("a/b"));
  EXPECT_FALSE(IsLabelValue(std::string(64, 'a')));
  EXPECT_TRUE(IsDns1123Label("kube-system"));
  EXPECT_FALSE(IsDns1123Label("Kube-system"));
  EXPECT_FALSE(IsDns1123Label("kube_system"));
  EXPECT_FALSE(IsDns1123Label("-a"));
  EXPECT_FALSE(IsDns1123Label(""));
  EXPECT_FALSE(IsDns1123Label(std::string(64, 'a')));
}

TEST(MessageRegex, CompilesWhatNodeguardCanMatchWith) {
  EXPECT_TRUE(IsValidMessageRegex("PLEG is not healthy"));
  EXPECT_TRUE(IsValidMessageRegex("pleg was last seen active [0-9hms.]+ ago"));
  EXPECT_FALSE(IsValidMessageRegex("PLEG("));
  EXPECT_FALSE(IsValidMessageRegex("[a-"));
  EXPECT_FALSE(IsValidMessageRegex("*x"));
}

// The API server checks messageRegex as RE2 (CEL matches()); nodeguard
// matches with RE2 too, so both accept and reject the same patterns.
TEST(MessageRegex, IsRe2LikeTheApiServer) {
  EXPECT_TRUE(IsValidMessageRegex("(?i)pleg"));           // std::regex rejected this.
  EXPECT_TRUE(IsValidMessageRegex(R"((?P<d>\d+)m\pL)"));  // Named group, Unicode class.
  EXPECT_FALSE(IsValidMessageRegex("PLEG(?=is)"));        // No lookarounds in RE2.
  EXPECT_FALSE(IsValidMessageRegex(R"((a)\1)"));          // No backreferences.
  EXPECT_FALSE(IsValidMessageRegex("a{1001}"));           // RE2's repeat limit (1000).
}

// A count above int32 wrapped negative in the storm guard's int budget.
TEST(Validate, MaxUnhealthyCountAboveInt32IsRejected) {
  NodeHealthPolicySpec s;
  s.remediation.max_unhealthy = IntOrPercent::Count(int64_t{2147483647} + 1);
  auto errors = Validate(s);
  ASSERT_EQ(errors.size(), 1u) << JoinFieldErrors(errors);
  EXPECT_EQ(errors[0].field, "spec.remediation.maxUnhealthy");
  EXPECT_THAT(errors[0].message, HasSubstr("at most 2147483647"));
  s.remediation.max_unhealthy = IntOrPercent::Count(2147483647);
  EXPECT_TRUE(Validate(s).empty()) << JoinFieldErrors(Validate(s));
}

// The same for the other fields the cross-field rules read.
TEST(Validate, AnInvalidFieldIsNotComparedWithOthers) {
  NodeHealthPolicySpec s;
  s.pod_density.enabled = true;
  s.pod_density.max_pods = 70;
  s.pod_density.taint_ahead = 500;
  s.pod_density.release_below = IntOrPercent::Count(60);
  auto errors = Validate(s);
  ASSERT_EQ(errors.size(), 1u) << JoinFieldErrors(errors);
  EXPECT_EQ(errors[0].field, "spec.podDensity.taintAhead");

  s.pod_density.taint_ahead = 0;
  s.pod_density.release_below = IntOrPercent::Count(3000000000LL);
  errors = Validate(s);
  ASSERT_EQ(errors.size(), 1u) << JoinFieldErrors(errors);
  EXPECT_EQ(errors[0].field, "spec.podDensity.releaseBelow");
  EXPECT_THAT(errors[0].message, HasSubstr("at most 2147483647"));
}

// An out-of-range maxPods is the one error: the rules comparing other fields
// with maxPods are not evaluated against a value that is itself invalid.
TEST(Validate, InvalidMaxPodsReportsOnlyItself) {
  for (int32_t max_pods : {0, -3, 1001, 5000}) {
    NodeHealthPolicySpec s;
    s.pod_density.enabled = true;
    s.pod_density.max_pods = max_pods;
    s.pod_density.release_below = IntOrPercent::Count(4000);
    s.pod_density.taint_ahead = 2;
    auto errors = Validate(s);
    SCOPED_TRACE(max_pods);
    ASSERT_EQ(errors.size(), 1u) << JoinFieldErrors(errors);
    EXPECT_EQ(errors[0].field, "spec.podDensity.maxPods");
  }
}

TEST(JoinFieldErrors, ListsAFewThenCounts) {
  std::vector<FieldError> errors = {{"a", "x"}, {"b", "y"}, {"c", "z"}};
  EXPECT_EQ(JoinFieldErrors(errors), "a: x; b: y; c: z");
  EXPECT_EQ(JoinFieldErrors(errors, 2), "a: x; b: y; and 1 more");
  EXPECT_EQ(JoinFieldErrors({}), "");
}

}  // namespace
}  // namespace nodeguard::api
