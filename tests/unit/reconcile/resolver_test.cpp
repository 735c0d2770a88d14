#include "reconcile/resolver.h"

#include <gtest/gtest.h>

using namespace std::chrono_literals;

namespace nodeguard::runtime {
namespace {

api::NodeHealthPolicy Policy(std::string name, int created_minute,
                             std::map<std::string, std::string> match_labels = {}) {
  api::NodeHealthPolicy p;
  p.meta.name = std::move(name);
  p.meta.creation_timestamp = kube::Time(std::chrono::minutes(created_minute));
  p.spec.node_selector.match_labels = std::move(match_labels);
  return p;
}

kube::Node Node(std::string name, kube::Labels labels) {
  kube::Node n;
  n.meta.name = std::move(name);
  n.labels = std::move(labels);
  return n;
}

TEST(Resolver, OldestPolicyGovernsAndOthersReportConflicts) {
  auto all = Policy("all-nodes", 10);
  auto workers = Policy("workers", 5, {{"role", "worker"}});
  auto young = Policy("a-young", 20, {{"role", "worker"}});
  auto w1 = Node("w1", {{"role", "worker"}});
  auto m1 = Node("m1", {{"role", "master"}});
  Resolution r = ResolvePolicies({&all, &workers, &young}, {&w1, &m1});

  EXPECT_EQ(r.governing.at("w1"), "workers");
  EXPECT_EQ(r.governing.at("m1"), "all-nodes");
  EXPECT_EQ(r.by_policy.at("workers").governed, std::vector<std::string>{"w1"});
  EXPECT_EQ(r.by_policy.at("all-nodes").governed, std::vector<std::string>{"m1"});
  ASSERT_EQ(r.by_policy.at("all-nodes").conflicts.size(), 1u);
  EXPECT_EQ(r.by_policy.at("all-nodes").conflicts[0].node, "w1");
  EXPECT_EQ(r.by_policy.at("all-nodes").conflicts[0].governed_by, "workers");
  EXPECT_EQ(r.by_policy.at("all-nodes").selected, 2);
  EXPECT_TRUE(r.by_policy.at("a-young").governed.empty());
  EXPECT_EQ(r.by_policy.at("a-young").conflicts.size(), 1u);
}

TEST(Resolver, SameAgeTieBrokenByName) {
  auto b = Policy("b", 1);
  auto a = Policy("a", 1);
  auto n = Node("n", {});
  EXPECT_EQ(ResolvePolicies({&b, &a}, {&n}).governing.at("n"), "a");
}

TEST(Resolver, DeletingPolicyHandsNodesOn) {
  auto old = Policy("old", 1);
  old.meta.deletion_timestamp = kube::Time(5min);
  auto next = Policy("next", 2);
  auto n = Node("n", {});
  Resolution r = ResolvePolicies({&old, &next}, {&n});
  EXPECT_EQ(r.governing.at("n"), "next");
  EXPECT_TRUE(r.by_policy.at("old").governed.empty());
  EXPECT_TRUE(r.by_policy.at("next").conflicts.empty());
}

TEST(Resolver, UnselectedNodeHasNoGovernor) {
  auto p = Policy("p", 1, {{"role", "worker"}});
  auto n = Node("n", {{"role", "infra"}});
  Resolution r = ResolvePolicies({&p}, {&n});
  EXPECT_EQ(r.governing.count("n"), 0u);
  EXPECT_EQ(r.by_policy.at("p").selected, 0);
}

TEST(Resolver, GoverningPolicyMatchesBatchResolution) {
  auto young = Policy("young", 9);
  auto old = Policy("old", 1, {{"role", "worker"}});
  std::vector<const api::NodeHealthPolicy*> sorted = {&old, &young};
  auto w = Node("w", {{"role", "worker"}});
  auto x = Node("x", {});
  EXPECT_EQ(GoverningPolicy(sorted, w)->meta.name, "old");
  EXPECT_EQ(GoverningPolicy(sorted, x)->meta.name, "young");
  EXPECT_EQ(GoverningPolicy({}, x), nullptr);
}

}  // namespace
}  // namespace nodeguard::runtime
