#include "hygiene/summary.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "pods.h"

namespace nodeguard::hygiene {
namespace {

using testing::C;
using testing::kAll;
using testing::MakePod;

const HygieneRules kRules = CompileRules(api::ResourceHygieneSpec{});

PodFindings Eval(const kube::Pod& p) { return EvaluatePod(kRules, p); }

kube::Pod Bad(const std::string& ns, const std::string& name,
              kube::QosClass qos = kube::QosClass::kBurstable) {
  return MakePod(ns, name, {C("app", kube::kRequestCpu)},
                 qos);  // Lacks requests.memory, limits.memory.
}

std::vector<std::string> Names(const std::vector<const PodFindings*>& pods) {
  std::vector<std::string> out;
  for (const auto* p : pods) out.push_back(p->namespace_.str() + "/" + p->name);
  return out;
}

// Index of a field in Counts::missing.
size_t Idx(uint8_t bit) {
  for (size_t i = 0; i < 6; ++i)
    if (kResourceBitOrder[i] == bit) return i;
  return 6;
}

TEST(FindingsSummary, AddFixDelete) {
  FindingsSummary s;
  s.Upsert(Eval(Bad("a", "p1")));
  s.Upsert(Eval(MakePod("a", "p2", {C("app", 0)}, kube::QosClass::kBestEffort)));
  s.Upsert(Eval(Bad("b", "p3")));
  s.Upsert(Eval(MakePod("b", "ok", {C("app", kAll)})));  // Not flagged: not stored.
  EXPECT_EQ(s.Total().pods, 3);
  EXPECT_EQ(s.Total().best_effort_pods, 1);
  EXPECT_EQ(s.Total().missing[Idx(kube::kRequestCpu)], 1);
  EXPECT_EQ(s.Total().missing[Idx(kube::kRequestMemory)], 3);
  EXPECT_EQ(s.Total().missing[Idx(kube::kLimitMemory)], 3);
  EXPECT_EQ(s.Total().missing[Idx(kube::kLimitCpu)], 0);  // Not required by default.
  ASSERT_EQ(s.ByNamespace().size(), 2u);
  EXPECT_EQ(s.ByNamespace().at("a").pods, 2);
  EXPECT_EQ(s.ByNamespace().at("b").pods, 1);
  EXPECT_EQ(s.Find("uid-b-ok"), nullptr);
  ASSERT_NE(s.Find("uid-a-p1"), nullptr);

  // The same pod re-evaluated identically changes nothing.
  s.Upsert(Eval(Bad("a", "p1")));
  EXPECT_EQ(s.Total().pods, 3);

  // p2 fixed in place (same UID, now declares requests.cpu): its counts move.
  s.Upsert(Eval(MakePod("a", "p2", {C("app", kube::kRequestCpu)})));
  EXPECT_EQ(s.Total().pods, 3);
  EXPECT_EQ(s.Total().best_effort_pods, 0);
  EXPECT_EQ(s.Total().missing[Idx(kube::kRequestCpu)], 0);

  // p1 fixed completely: it leaves the summary.
  s.Upsert(Eval(MakePod("a", "p1", {C("app", kAll)})));
  EXPECT_EQ(s.Total().pods, 2);
  EXPECT_EQ(s.ByNamespace().at("a").pods, 1);

  // p3 deleted: namespace b disappears.
  s.Remove("uid-b-p3");
  s.Remove("uid-never-seen");
  EXPECT_EQ(s.Total().pods, 1);
  EXPECT_EQ(s.ByNamespace().count("b"), 0u);

  // A pod that became terminal (skipped) leaves as well.
  kube::Pod done = MakePod("a", "p2", {C("app", 0)});
  done.phase = kube::PodPhase::kSucceeded;
  s.Upsert(Eval(done));
  EXPECT_EQ(s.Total(), FindingsSummary::Counts{});
  EXPECT_TRUE(s.ByNamespace().empty());
  EXPECT_TRUE(s.Examples().empty());
}

TEST(FindingsSummary, ExamplesAreBoundedAndOrdered) {
  FindingsSummary s(3);
  for (const char* n : {"z", "m", "b"}) s.Upsert(Eval(Bad("ns2", n)));
  for (const char* n : {"y", "a"}) s.Upsert(Eval(Bad("ns1", n)));
  EXPECT_EQ(Names(s.Examples()), (std::vector<std::string>{"ns1/a", "ns1/y", "ns2/b"}));
  s.Remove("uid-ns1-a");
  EXPECT_EQ(Names(s.Examples()), (std::vector<std::string>{"ns1/y", "ns2/b", "ns2/m"}));
  EXPECT_EQ(Names(s.PodsInNamespace("ns2")), (std::vector<std::string>{"ns2/b", "ns2/m", "ns2/z"}));
  EXPECT_TRUE(s.PodsInNamespace("ns").empty());  // A prefix of ns1/ns2 is not them.
  EXPECT_TRUE(s.PodsInNamespace("ns3").empty());
}

TEST(FindingsSummary, SameNameDifferentUid) {
  // A StatefulSet pod re-created before the old one's delete event arrived.
  FindingsSummary s;
  kube::Pod old_pod = Bad("a", "db-0");
  old_pod.meta.uid = "old";
  kube::Pod new_pod = Bad("a", "db-0");
  new_pod.meta.uid = "new";
  s.Upsert(Eval(old_pod));
  s.Upsert(Eval(new_pod));
  EXPECT_EQ(s.Total().pods, 2);
  s.Remove("old");
  EXPECT_EQ(s.Total().pods, 1);
  ASSERT_NE(s.Find("new"), nullptr);
}

TEST(FindingsSummary, ToStatus) {
  FindingsSummary s(2);
  s.Upsert(Eval(Bad("small", "p")));
  for (const char* n : {"p1", "p2", "p3"}) s.Upsert(Eval(Bad("big", n)));
  for (const char* n : {"p1", "p2"}) s.Upsert(Eval(Bad("mid", n)));
  for (const char* n : {"p1", "p2"}) s.Upsert(Eval(Bad("also-mid", n)));
  const api::ResourceHygieneStatus st = s.ToStatus(/*max_namespaces=*/3);
  ASSERT_EQ(st.namespaces.size(), 3u);
  EXPECT_EQ(st.namespaces[0].namespace_, "big");
  EXPECT_EQ(st.namespaces[0].pods, 3);
  EXPECT_EQ(st.namespaces[1].namespace_, "also-mid");  // Ties by name.
  EXPECT_EQ(st.namespaces[2].namespace_, "mid");
  ASSERT_EQ(st.example_pods.size(), 2u);
  EXPECT_EQ(st.example_pods[0].namespace_, "also-mid");
  EXPECT_EQ(st.example_pods[0].name, "p1");
  EXPECT_EQ(st.example_pods[0].findings, "app: requests.memory,limits.memory");
  EXPECT_EQ(s.Total().pods, 8);
}

TEST(FindingsSummary, IncrementalEqualsRebuild) {
  // After any sequence of updates the aggregate equals one built from scratch
  // from the final pods.
  FindingsSummary inc;
  std::map<std::string, kube::Pod> final_pods;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 20; ++i) {
      const std::string name = "p" + std::to_string(i);
      const std::string ns = "ns" + std::to_string(i % 3);
      uint8_t declared = static_cast<uint8_t>((i * 7 + round * 13) % 64);
      kube::Pod p = MakePod(ns, name, {C("app", declared)});
      if ((i + round) % 7 == 0) {
        inc.Remove(p.meta.uid.str());
        final_pods.erase(p.meta.uid.str());
        continue;
      }
      inc.Upsert(Eval(p));
      final_pods[p.meta.uid.str()] = p;
    }
  }
  FindingsSummary rebuilt;
  for (const auto& [uid, p] : final_pods) rebuilt.Upsert(Eval(p));
  EXPECT_EQ(inc.Total(), rebuilt.Total());
  EXPECT_EQ(inc.ByNamespace(), rebuilt.ByNamespace());
  EXPECT_EQ(inc.ToStatus(), rebuilt.ToStatus());
  EXPECT_GT(inc.Total().pods, 0);
}

}  // namespace
}  // namespace nodeguard::hygiene
