#include "hygiene/node_reserve.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nodeguard::hygiene {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMi = 1024LL * 1024;
constexpr int64_t kGi = 1024 * kMi;

kube::Node MakeNode(int64_t cpu_cap, int64_t cpu_alloc, int64_t mem_cap, int64_t mem_alloc) {
  kube::Node n;
  n.meta.name = "worker-1";
  n.capacity.cpu_millis = cpu_cap;
  n.allocatable.cpu_millis = cpu_alloc;
  n.capacity.memory_bytes = mem_cap;
  n.allocatable.memory_bytes = mem_alloc;
  return n;
}

struct ReserveCase {
  const char* name;
  kube::Node node;
  bool flagged;
  bool cpu;
  bool memory;
};

TEST(EvaluateNodeReserve, Table) {
  const ReserveCase cases[] = {
      {"allocatable equals capacity", MakeNode(8000, 8000, 32 * kGi, 32 * kGi), true, true, true},
      {"kubelet defaults: only the 100Mi eviction threshold",
       MakeNode(8000, 8000, 32 * kGi, 32 * kGi - 100 * kMi), true, true, true},
      {"the incident's fix: 4 cores and 6 GB reserved", MakeNode(8000, 4000, 32 * kGi, 26 * kGi),
       false, false, false},
      {"CPU reserved, memory only the threshold",
       MakeNode(8000, 7500, 32 * kGi, 32 * kGi - 100 * kMi), true, false, true},
      {"memory reserved, CPU not", MakeNode(8000, 8000, 32 * kGi, 31 * kGi), true, true, false},
      {"just over the threshold counts as reserved",
       MakeNode(8000, 7900, 32 * kGi, 32 * kGi - 101 * kMi), false, false, false},
      {"no capacity reported: nothing to judge", MakeNode(0, 0, 0, 0), false, false, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto f = EvaluateNodeReserve(c.node);
    ASSERT_EQ(f.has_value(), c.flagged);
    if (!f) continue;
    EXPECT_EQ(f->node, "worker-1");
    EXPECT_EQ(f->cpu_unreserved, c.cpu);
    EXPECT_EQ(f->memory_unreserved, c.memory);
  }
}

TEST(EvaluateNodeReserve, CustomEvictionThreshold) {
  const kube::Node n = MakeNode(8000, 7000, 32 * kGi, 32 * kGi - 500 * kMi);
  EXPECT_FALSE(EvaluateNodeReserve(n));
  EXPECT_TRUE(EvaluateNodeReserve(n, 500 * kMi));
}

TEST(NodeReserveEvent, AdviceFromTheIncident) {
  const auto f = EvaluateNodeReserve(MakeNode(8000, 8000, 32 * kGi, 32 * kGi - 100 * kMi));
  ASSERT_TRUE(f);
  const EventText e = NodeReserveEvent(*f);
  EXPECT_EQ(e.type, "Warning");
  EXPECT_EQ(e.reason, "NoSystemReserve");
  EXPECT_THAT(e.message, HasSubstr("Node worker-1 reserves nothing for the system: allocatable "
                                   "CPU equals capacity (8 cores); allocatable memory holds back "
                                   "only 100Mi of 32Gi"));
  EXPECT_THAT(e.message, HasSubstr("--system-reserved and --kube-reserved"));
  EXPECT_THAT(e.message, HasSubstr("reserved 4 cores and 6 GB"));

  const auto mem_only = EvaluateNodeReserve(MakeNode(8000, 6000, 16 * kGi, 16 * kGi));
  ASSERT_TRUE(mem_only);
  EXPECT_THAT(NodeReserveEvent(*mem_only).message,
              HasSubstr("system: allocatable memory holds back only 0 of 16Gi"));
}

TEST(Format, CoresAndBytes) {
  EXPECT_EQ(FormatCores(8000), "8");
  EXPECT_EQ(FormatCores(7500), "7.5");
  EXPECT_EQ(FormatCores(250), "0.25");
  EXPECT_EQ(FormatBytes(0), "0");
  EXPECT_EQ(FormatBytes(512), "512");
  EXPECT_EQ(FormatBytes(100 * kMi), "100Mi");
  EXPECT_EQ(FormatBytes(32 * kGi), "32Gi");
  EXPECT_EQ(FormatBytes(32 * kGi - 100 * kMi), "31.9Gi");
  EXPECT_EQ(FormatBytes(-100 * kMi), "-100Mi");
}

}  // namespace
}  // namespace nodeguard::hygiene
