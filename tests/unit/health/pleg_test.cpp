#include "health/pleg.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

using namespace std::chrono_literals;

namespace nodeguard::health {
namespace {

struct Case {
  std::string name;
  std::string message;
  PlegReport want;
};

// Keeps ctest names readable: gtest prints the parameter in the test name.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

PlegReport Pleg(std::optional<Duration> seen, std::optional<Duration> threshold,
                bool runtime_down = false) {
  PlegReport r;
  r.pleg_unhealthy = true;
  r.last_seen_active = seen;
  r.threshold = threshold;
  r.runtime_down = runtime_down;
  return r;
}

class ClassifyReadyMessageTest : public testing::TestWithParam<Case> {};

TEST_P(ClassifyReadyMessageTest, Classifies) {
  EXPECT_EQ(ClassifyReadyMessage(GetParam().message), GetParam().want) << GetParam().message;
}

PlegReport NeverSucceeded(bool runtime_pending, bool runtime_down = false) {
  PlegReport r;
  r.pleg_unhealthy = true;
  r.never_succeeded = true;
  r.runtime_status_pending = runtime_pending;
  r.runtime_down = runtime_down;
  return r;
}

PlegReport RuntimeOnly(bool down, bool pending) {
  PlegReport r;
  r.runtime_down = down;
  r.runtime_status_pending = pending;
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    AllForms, ClassifyReadyMessageTest,
    testing::Values(
        Case{"Bare",
             "PLEG is not healthy: pleg was last seen active 3m7.629592089s ago; threshold is 3m0s",
             Pleg(3min + 7s + 629592089ns, 3min)},
        Case{"HoursLong",
             "PLEG is not healthy: pleg was last seen active 16h17m50.79s ago; threshold is 3m0s",
             Pleg(16h + 17min + 50s + 790ms, 3min)},
        Case{"PreOneFourteenCommaJoin",
             "container runtime is down,PLEG is not healthy: pleg was last seen active 3m5.12s "
             "ago; threshold is 3m0s",
             Pleg(3min + 5s + 120ms, 3min, /*runtime_down=*/true)},
        Case{"AggregatedNeverSucceeded",
             "[container runtime status check may not have completed yet, PLEG is not healthy: "
             "pleg has yet to be successful]",
             NeverSucceeded(/*runtime_pending=*/true)},
        Case{"BareNeverSucceeded", "PLEG is not healthy: pleg has yet to be successful",
             NeverSucceeded(false)},
        Case{"AggregatedRuntimeDownThenPleg",
             "[container runtime is down, PLEG is not healthy: pleg was last seen active "
             "4m0.5s ago; threshold is 3m0s]",
             Pleg(4min + 500ms, 3min, true)},
        Case{"AggregatedWithNetworkAfter",
             "[PLEG is not healthy: pleg was last seen active 3m10s ago; threshold is 3m0s, "
             "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
             "message:Network plugin returns error: cni plugin not initialized]",
             Pleg(3min + 10s, 3min)},
        Case{"AggregatedThreeParts",
             "[container runtime is down, PLEG is not healthy: pleg has yet to be successful, "
             "missing node capacity for resources: cpu, memory]",
             NeverSucceeded(false, true)},
        Case{"SoftRequirementWarningSuffix",
             "PLEG is not healthy: pleg was last seen active 3m1s ago; threshold is 3m0s. "
             "WARNING: CPU hardcapping unsupported",
             Pleg(3min + 1s, 3min)},
        Case{"CustomThreshold",
             "PLEG is not healthy: pleg was last seen active 31.2s ago; threshold is 30s",
             Pleg(31s + 200ms, 30s)},
        Case{"UnparseableDurationsStillUnhealthy",
             "PLEG is not healthy: pleg was last seen active forever ago; threshold is soon",
             Pleg(std::nullopt, std::nullopt)},
        Case{"UnknownPlegDetail", "PLEG is not healthy: something new",
             Pleg(std::nullopt, std::nullopt)},
        Case{"NetworkNotReady",
             "container runtime network not ready: NetworkReady=false "
             "reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni "
             "config uninitialized",
             PlegReport{}},
        Case{"KubeletStoppedPosting", "Kubelet stopped posting node status.", PlegReport{}},
        Case{"KubeletReady", "kubelet is posting ready status", PlegReport{}},
        Case{"Empty", "", PlegReport{}},
        Case{"RuntimeDownOnly", "container runtime is down", RuntimeOnly(true, false)},
        Case{"RuntimePendingOnly",
             "[container runtime status check may not have completed yet, container runtime "
             "network not ready: NetworkReady=false]",
             RuntimeOnly(false, true)},
        Case{"LowercasePlegIsNotThePhrase", "pleg is not healthy", PlegReport{}}),
    [](const testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace nodeguard::health
