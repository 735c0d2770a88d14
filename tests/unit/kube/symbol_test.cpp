#include "kube/symbol.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "kube/objects.h"

namespace nodeguard::kube {
namespace {

TEST(Symbol, EqualTextSharesStorage) {
  std::string a = "worker-";
  a += "1";
  Symbol s1 = Symbol::Intern(a);
  Symbol s2 = Symbol::Intern("worker-1");
  EXPECT_EQ(s1, s2);
  EXPECT_EQ(s1.identity(), s2.identity());
  EXPECT_EQ(s1.view(), "worker-1");
  EXPECT_FALSE(Symbol::Intern("worker-2") == s1);
  EXPECT_TRUE(Symbol().empty());
  EXPECT_EQ(Symbol(), Symbol::Intern(""));
}

TEST(Symbol, ConcurrentInterningAgrees) {
  std::vector<const void*> seen(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&seen, i] {
      for (int j = 0; j < 1000; ++j) Symbol::Intern("ns-" + std::to_string(j));
      seen[i] = Symbol::Intern("ns-500").identity();
    });
  }
  for (auto& t : threads) t.join();
  for (const void* p : seen) EXPECT_EQ(p, seen[0]);
}

TEST(Labels, FindOnSortedLabels) {
  Labels labels = {{"kubernetes.io/hostname", "w1"}, {"node-role.kubernetes.io/worker", ""}};
  ASSERT_NE(labels.Find("kubernetes.io/hostname"), nullptr);
  EXPECT_EQ(*labels.Find("kubernetes.io/hostname"), "w1");
  EXPECT_EQ(*labels.Find("node-role.kubernetes.io/worker"), "");
  EXPECT_EQ(labels.Find("zone"), nullptr);
}

TEST(Labels, SortedByKeyWhateverTheOrderGivenAndTheLastDuplicateWins) {
  Labels labels = {{"zone", "b"}, {"arch", "amd64"}, {"pool", "p1"}, {"zone", "c"}};
  std::vector<std::string> keys;
  for (const auto& l : labels) keys.emplace_back(l.key.view());
  EXPECT_EQ(keys, (std::vector<std::string>{"arch", "pool", "zone"}));
  EXPECT_EQ(*labels.Find("zone"), "c");
  EXPECT_EQ(labels.size(), 3u);
}

TEST(Labels, SetEraseAndEquality) {
  Labels a;
  EXPECT_TRUE(a.empty());
  a.Set("pool", "p1");
  a.Set("arch", "amd64");
  a.Set("pool", "p2");  // Replaces.
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(*a.Find("pool"), "p2");
  EXPECT_EQ(a, (Labels{{"arch", "amd64"}, {"pool", "p2"}}));
  EXPECT_NE(a, (Labels{{"arch", "amd64"}, {"pool", "p1"}}));
  EXPECT_NE(a, (Labels{{"arch", "amd64"}}));
  EXPECT_TRUE(a.Erase("arch"));
  EXPECT_FALSE(a.Erase("arch"));
  EXPECT_EQ(a.Find("arch"), nullptr);
  EXPECT_EQ(a, (Labels{{"pool", "p2"}}));
}

TEST(Labels, KeysAndValuesAreInternedAcrossNodes) {
  std::string zone = "eu-west-";
  zone += "1a";
  Labels a = {{"topology.kubernetes.io/zone", zone}};
  Labels b = {{"topology.kubernetes.io/zone", "eu-west-1a"}};
  // Two nodes in one zone share the text of the key and of the value.
  EXPECT_EQ(a.Find("topology.kubernetes.io/zone"), b.Find("topology.kubernetes.io/zone"));
  EXPECT_EQ(a.begin()->key.identity(), b.begin()->key.identity());
}

TEST(Node, LabelAndAnnotationAccessors) {
  Node node;
  node.labels = {{"nodeguard.io/exclude", "true"}};
  node.nodeguard_annotations = {{"nodeguard.io/a", "1"}, {"nodeguard.io/b", "{\"x\":2}"}};
  ASSERT_NE(node.labels.Find("nodeguard.io/exclude"), nullptr);
  EXPECT_EQ(*node.labels.Find("nodeguard.io/exclude"), "true");
  EXPECT_EQ(node.labels.Find("zone"), nullptr);
  EXPECT_EQ(*node.Annotation("nodeguard.io/b"), "{\"x\":2}");
  EXPECT_EQ(node.Annotation("nodeguard.io/c"), nullptr);
}

TEST(Node, FindConditionByInternedType) {
  Node node;
  NodeCondition ready;
  ready.type = Symbol::Intern("Ready");
  ready.reason = Symbol::Intern("KubeletReady");
  NodeCondition memory;
  memory.type = Symbol::Intern("MemoryPressure");
  node.conditions = {memory, ready};
  ASSERT_NE(node.FindCondition("Ready"), nullptr);
  EXPECT_EQ(node.FindCondition("Ready")->reason, "KubeletReady");
  EXPECT_EQ(node.FindCondition("DiskPressure"), nullptr);
}

}  // namespace
}  // namespace nodeguard::kube
