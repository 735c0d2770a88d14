// Counting governed nodes by early-warning level, and which change of a
// node's published level is announced (once: the record on the Node).

#include "reconcile/early_warning.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/time.h"

namespace nodeguard::runtime {
namespace {

using L = kube::EarlyWarningLevel;

kube::Time At(const char* rfc3339) { return ParseRfc3339(rfc3339).value(); }

kube::Node NodeAt(L level, const char* since = "2026-12-07T10:00:00Z",
                  std::optional<std::string> announced = std::nullopt) {
  kube::Node n;
  n.meta.name = "w1";
  n.early_warning.level = level;
  if (level != L::kAbsent && level != L::kUnknown) n.early_warning.since = At(since);
  if (announced) n.nodeguard_annotations = {{kEarlyWarningAnnouncedAnnotation, *announced}};
  return n;
}

TEST(CountEarlyWarning, Table) {
  const std::vector<L> levels = {L::kAbsent,   L::kHealthy,  L::kHealthy, L::kDegraded,
                                 L::kCritical, L::kCritical, L::kUnknown, L::kAbsent};
  std::vector<kube::Node> nodes;
  for (L l : levels) nodes.push_back(NodeAt(l));
  std::vector<const kube::Node*> ptrs;
  for (const auto& n : nodes) ptrs.push_back(&n);
  const api::EarlyWarningCounts c = CountEarlyWarning(ptrs);
  EXPECT_EQ(c.healthy, 2);
  EXPECT_EQ(c.degraded, 1);
  EXPECT_EQ(c.critical, 2);
  EXPECT_EQ(c.unknown, 1);
  EXPECT_EQ(CountEarlyWarning({}), api::EarlyWarningCounts{});
}

struct Row {
  const char* name;
  L level;
  const char* since;
  std::optional<std::string> announced;
  // Expected: nullopt, or {reason, warning}.
  const char* reason;
  bool warning;
  const char* was;
};

TEST(AnnounceEarlyWarning, Table) {
  const char* t0 = "2026-12-07T10:00:00Z";
  const char* t1 = "2026-12-07T10:05:00Z";
  const Row rows[] = {
      {"nothing published", L::kAbsent, t0, std::nullopt, nullptr, false, nullptr},
      {"unreadable: logged, never announced", L::kUnknown, t0, std::nullopt, nullptr, false,
       nullptr},
      {"unreadable after an announcement", L::kUnknown, t0, "Degraded 2026-12-07T10:00:00Z",
       nullptr, false, nullptr},
      {"healthy, no record: no Event for a healthy fleet", L::kHealthy, t0, std::nullopt, nullptr,
       false, nullptr},
      {"first degraded", L::kDegraded, t0, std::nullopt, "EarlyWarningDegraded", true, "Healthy"},
      {"first critical", L::kCritical, t0, std::nullopt, "EarlyWarningCritical", true, "Healthy"},
      {"already announced (a restart)", L::kDegraded, t0, "Degraded 2026-12-07T10:00:00Z", nullptr,
       false, nullptr},
      {"degraded -> critical", L::kCritical, t1, "Degraded 2026-12-07T10:00:00Z",
       "EarlyWarningCritical", true, "Degraded"},
      {"critical -> healthy: Normal", L::kHealthy, t1, "Critical 2026-12-07T10:00:00Z",
       "EarlyWarningHealthy", false, "Critical"},
      {"healthy announced, stays", L::kHealthy, t1, "Healthy 2026-12-07T10:05:00Z", nullptr, false,
       nullptr},
      {"same level, new since (left and came back unseen)", L::kDegraded, t1,
       "Degraded 2026-12-07T10:00:00Z", "EarlyWarningDegraded", true, "Degraded"},
      {"record unreadable: announced again", L::kCritical, t0, "garbage", "EarlyWarningCritical",
       true, "garbage"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    const auto got = AnnounceEarlyWarning(NodeAt(row.level, row.since, row.announced));
    if (row.reason == nullptr) {
      EXPECT_FALSE(got.has_value());
      continue;
    }
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->reason, row.reason);
    EXPECT_EQ(got->warning, row.warning);
    EXPECT_EQ(got->annotation,
              std::string(kube::EarlyWarningLevelName(row.level)) + " " + row.since);
    EXPECT_NE(got->message.find(std::string("(was ") + row.was + ")"), std::string::npos)
        << got->message;
    // Once recorded, the same node is not announced again.
    EXPECT_FALSE(AnnounceEarlyWarning(NodeAt(row.level, row.since, got->annotation)).has_value());
  }
}

TEST(AnnounceEarlyWarning, CarriesTheAdaptiveCapNote) {
  const auto got = AnnounceEarlyWarning(NodeAt(L::kDegraded), "; its cap note");
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->message.find("nodeguard.io/early-warning; its cap note"), std::string::npos)
      << got->message;
}

TEST(AdaptiveCapNote, LoweredRestoredOrNothing) {
  density::DensityCap cap{56, 56, 50, density::CapBound::kMaxPods};
  cap.policy_cap = 70;
  cap.adaptation = density::CapAdaptation::kLowered;
  EXPECT_EQ(AdaptiveCapNote(cap, "workers"),
            "; its pod-density cap is lowered from 70 to 56 (policy workers, "
            "spec.earlyWarning.adaptiveCap)");
  cap = density::DensityCap{70, 70, 63, density::CapBound::kMaxPods};
  cap.policy_cap = 70;
  EXPECT_EQ(AdaptiveCapNote(cap, "workers"), "; its pod-density cap is 70 again (policy workers)");
  cap.adaptation = density::CapAdaptation::kUnknown;
  EXPECT_EQ(AdaptiveCapNote(cap, "workers"), "");
  EXPECT_EQ(AdaptiveCapNote(std::nullopt, "workers"), "");
}

api::NodeHealthPolicy PolicyWithEarlyWarning() {
  api::NodeHealthPolicy p;
  p.meta.name = "workers";
  p.spec.early_warning.present = true;
  p.spec.early_warning.critical_last_relist_age = std::chrono::seconds(45);
  return p;
}

TEST(DesiredThresholdsAnnotation, ThePolicysMarksOrAbsent) {
  const api::NodeHealthPolicy p = PolicyWithEarlyWarning();
  EXPECT_EQ(DesiredThresholdsAnnotation(&p, true),
            R"({"calmLastRelistAge":"10s","calmRelistP99":"500ms","criticalLastRelistAge":"45s",)"
            R"("degradedRelistP99":"1s","hold":"2m0s","policy":"workers"})");
  EXPECT_EQ(DesiredThresholdsAnnotation(&p, false), std::nullopt);      // Invalid: not acted on.
  EXPECT_EQ(DesiredThresholdsAnnotation(nullptr, true), std::nullopt);  // No governing policy.
  api::NodeHealthPolicy without = p;
  without.spec.early_warning = api::EarlyWarningSpec{};
  EXPECT_EQ(DesiredThresholdsAnnotation(&without, true), std::nullopt);  // The flags decide.
}

TEST(ThresholdsPatch, OnlyWhenTheNodeDiffers) {
  kube::Node node = NodeAt(L::kAbsent);
  EXPECT_EQ(ThresholdsPatch(node, std::nullopt), std::nullopt);
  EXPECT_EQ(
      ThresholdsPatch(node, std::string("{\"a\":1}")),
      R"({"metadata":{"annotations":{"nodeguard.io/early-warning-thresholds":"{\"a\":1}"}}})");
  node.nodeguard_annotations = {{"nodeguard.io/early-warning-thresholds", "{\"a\":1}"}};
  EXPECT_EQ(ThresholdsPatch(node, std::string("{\"a\":1}")), std::nullopt);
  EXPECT_EQ(ThresholdsPatch(node, std::nullopt),
            R"({"metadata":{"annotations":{"nodeguard.io/early-warning-thresholds":null}}})");
}

}  // namespace
}  // namespace nodeguard::runtime
