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

TEST(Labels, FindLabelOnSortedLabels) {
  Labels labels = {{"kubernetes.io/hostname", "w1"}, {"node-role.kubernetes.io/worker", ""}};
  ASSERT_NE(FindLabel(labels, "kubernetes.io/hostname"), nullptr);
  EXPECT_EQ(*FindLabel(labels, "kubernetes.io/hostname"), "w1");
  EXPECT_EQ(*FindLabel(labels, "node-role.kubernetes.io/worker"), "");
  EXPECT_EQ(FindLabel(labels, "zone"), nullptr);
}

}  // namespace
}  // namespace nodeguard::kube
