#include "hygiene/policy_report.h"

#include <gtest/gtest.h>

#include "hygiene/summary.h"
#include "pods.h"

namespace nodeguard::hygiene {
namespace {

using nlohmann::json;
using testing::C;
using testing::kAll;
using testing::MakePod;

TEST(RuleName, PerField) {
  EXPECT_EQ(RuleName(kube::kRequestCpu), "require-requests-cpu");
  EXPECT_EQ(RuleName(kube::kLimitEphemeralStorage), "require-limits-ephemeral-storage");
}

TEST(BuildPolicyReport, Shape) {
  const HygieneRules rules = CompileRules(api::ResourceHygieneSpec{});
  FindingsSummary s;
  s.Upsert(EvaluatePod(
      rules, MakePod("team-a", "web",
                     {C("setup", kAll, true), C("app", kube::kRequestCpu | kube::kRequestMemory),
                      C("sidecar", kube::kRequestCpu)})));
  s.Upsert(
      EvaluatePod(rules, MakePod("team-a", "batch", {C("job", 0)}, kube::QosClass::kBestEffort)));
  s.Upsert(EvaluatePod(rules, MakePod("team-b", "other", {C("x", 0)})));

  const json report = BuildPolicyReport("team-a", "default", s.PodsInNamespace("team-a"));
  EXPECT_EQ(report["apiVersion"], "wgpolicyk8s.io/v1alpha2");
  EXPECT_EQ(report["kind"], "PolicyReport");
  EXPECT_EQ(report["metadata"]["name"], "nodeguard-default");
  EXPECT_EQ(report["metadata"]["namespace"], "team-a");
  EXPECT_EQ(report["metadata"]["labels"]["app.kubernetes.io/managed-by"], "nodeguard");
  EXPECT_EQ(report["metadata"]["labels"]["nodeguard.io/policy"], "default");
  EXPECT_EQ(report["summary"],
            (json{{"pass", 0}, {"fail", 5}, {"warn", 0}, {"error", 0}, {"skip", 0}}));
  EXPECT_FALSE(report.contains("scope"));

  const json& results = report["results"];
  ASSERT_EQ(results.size(), 5u);
  // batch (BestEffort): three fields; web: limits.memory (app, sidecar) and
  // requests.memory (sidecar). Ordered by pod name, then field.
  std::vector<std::string> rules_seen;
  for (const auto& r : results)
    rules_seen.push_back(r["resources"][0]["name"].get<std::string>() + " " +
                         r["rule"].get<std::string>());
  EXPECT_EQ(rules_seen,
            (std::vector<std::string>{"batch require-requests-cpu", "batch require-requests-memory",
                                      "batch require-limits-memory", "web require-requests-memory",
                                      "web require-limits-memory"}));

  const json& r = results[4];
  EXPECT_EQ(r["policy"], "nodeguard-resource-requirements");
  EXPECT_EQ(r["source"], "nodeguard");
  EXPECT_EQ(r["result"], "fail");
  EXPECT_EQ(r["severity"], "medium");
  EXPECT_EQ(r["scored"], true);
  EXPECT_EQ(r["message"], "Pod web: containers app,sidecar must set limits.memory");
  EXPECT_EQ(r["resources"], (json::array({{{"apiVersion", "v1"},
                                           {"kind", "Pod"},
                                           {"namespace", "team-a"},
                                           {"name", "web"},
                                           {"uid", "uid-team-a-web"}}})));
  EXPECT_EQ(r["properties"], (json{{"containers", "app,sidecar"}, {"qosClass", "Burstable"}}));
  EXPECT_EQ(results[3]["message"], "Pod web: container sidecar must set requests.memory");
  EXPECT_EQ(results[0]["severity"], "high");
  EXPECT_EQ(results[0]["properties"]["qosClass"], "BestEffort");
  EXPECT_FALSE(r.contains("timestamp"));  // Stable: re-applying unchanged findings is a no-op.
  // Every property value is a string, as the CRD requires.
  for (const auto& res : results)
    for (const auto& [k, v] : res["properties"].items()) EXPECT_TRUE(v.is_string()) << k;
}

TEST(BuildPolicyReport, DeterministicAndFiltered) {
  const HygieneRules rules = CompileRules(api::ResourceHygieneSpec{});
  PodFindings a = EvaluatePod(rules, MakePod("ns", "a", {C("c", 0)}));
  PodFindings b = EvaluatePod(rules, MakePod("ns", "b", {C("c", 0)}));
  PodFindings elsewhere = EvaluatePod(rules, MakePod("other", "x", {C("c", 0)}));
  const json one = BuildPolicyReport("ns", "p", {&b, &elsewhere, &a});
  const json two = BuildPolicyReport("ns", "p", {&a, &b});
  EXPECT_EQ(one.dump(), two.dump());
  EXPECT_EQ(one["summary"]["fail"], 6);

  const json empty = BuildPolicyReport("ns", "p", {});
  EXPECT_EQ(empty["results"], json::array());
  EXPECT_EQ(empty["summary"]["fail"], 0);
}

TEST(PolicyReportName, Bounded) {
  EXPECT_EQ(PolicyReportName("default"), "nodeguard-default");
  EXPECT_LE(PolicyReportName(std::string(300, 'x')).size(), 253u);
}

TEST(BuildPolicyReport, InitContainersAreMarked) {
  const HygieneRules rules = CompileRules(api::ResourceHygieneSpec{});
  PodFindings f = EvaluatePod(
      rules, MakePod("ns", "p",
                     {C("setup", kube::kRequestCpu | kube::kRequestMemory, true), C("app", kAll)}));
  const json report = BuildPolicyReport("ns", "p", {&f});
  ASSERT_EQ(report["results"].size(), 1u);
  EXPECT_EQ(report["results"][0]["properties"]["containers"], "init:setup");
  EXPECT_EQ(report["results"][0]["message"], "Pod p: container init:setup must set limits.memory");
}

}  // namespace
}  // namespace nodeguard::hygiene
