#include "hygiene/findings.h"

#include <gtest/gtest.h>

#include "pods.h"

namespace nodeguard::hygiene {
namespace {

using testing::C;
using testing::kAll;
using testing::kLimits;
using testing::kRequests;
using testing::MakePod;

// The API's defaults: requests.cpu, requests.memory, limits.memory; init
// containers included; kube-system excluded.
HygieneRules DefaultRules() { return CompileRules(api::ResourceHygieneSpec{}); }

HygieneRules StrictRules() {
  api::ResourceHygieneSpec spec;
  spec.required = kAll;
  spec.exclude_namespaces = {"kube-system", "monitoring", "kube-system"};
  return CompileRules(spec);
}

TEST(CompileRules, FromSpec) {
  api::ResourceHygieneSpec spec;
  spec.required = 0xff;
  spec.exclude_namespaces = {"b", "a", "b"};
  spec.include_init_containers = false;
  spec.annotate_pods = true;
  spec.emit_events = false;
  const HygieneRules r = CompileRules(spec);
  EXPECT_EQ(r.required, kAllResourceBits);
  EXPECT_EQ(r.exclude_namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(r.include_init_containers);
  EXPECT_TRUE(r.annotate_pods);
  EXPECT_FALSE(r.emit_events);
  EXPECT_TRUE(r.Excludes("a"));
  EXPECT_FALSE(r.Excludes("c"));
  EXPECT_FALSE(r.Excludes(""));
}

struct EvalCase {
  const char* name;
  HygieneRules rules;
  kube::Pod pod;
  SkipReason skipped;
  std::string annotation;  // EncodeAnnotation of the result.
};

TEST(EvaluatePod, IssueAcceptanceTable) {
  HygieneRules no_init = StrictRules();
  no_init.include_init_containers = false;
  kube::Pod done = MakePod("team-a", "done", {C("app", 0)});
  done.phase = kube::PodPhase::kSucceeded;
  kube::Pod failed = MakePod("team-a", "failed", {C("app", 0)});
  failed.phase = kube::PodPhase::kFailed;
  const EvalCase cases[] = {
      {"none set", StrictRules(), MakePod("team-a", "none", {C("app", 0)}), SkipReason::kNone,
       "app: requests.cpu,requests.memory,requests.ephemeral-storage,limits.cpu,limits.memory,"
       "limits.ephemeral-storage"},
      {"requests only", StrictRules(), MakePod("team-a", "req", {C("app", kRequests)}),
       SkipReason::kNone, "app: limits.cpu,limits.memory,limits.ephemeral-storage"},
      {"limits only", StrictRules(), MakePod("team-a", "lim", {C("app", kLimits)}),
       SkipReason::kNone, "app: requests.cpu,requests.memory,requests.ephemeral-storage"},
      {"all set", StrictRules(), MakePod("team-a", "all", {C("app", kAll)}), SkipReason::kNone, ""},
      {"init container without", StrictRules(),
       MakePod("team-a", "init", {C("setup", kube::kLimitCpu, true), C("app", kAll)}),
       SkipReason::kNone,
       "init:setup: requests.cpu,requests.memory,requests.ephemeral-storage,limits.memory,"
       "limits.ephemeral-storage"},
      {"init container ignored when not configured", no_init,
       MakePod("team-a", "init", {C("setup", 0, true), C("app", kAll)}), SkipReason::kNone, ""},
      {"excluded namespace", StrictRules(), MakePod("monitoring", "none", {C("app", 0)}),
       SkipReason::kExcludedNamespace, ""},
      {"BestEffort", DefaultRules(),
       MakePod("team-a", "be", {C("app", 0), C("sidecar", 0)}, kube::QosClass::kBestEffort),
       SkipReason::kNone,
       "app: requests.cpu,requests.memory,limits.memory; sidecar: "
       "requests.cpu,requests.memory,limits.memory"},
      {"default rules: only what is required", DefaultRules(),
       MakePod("team-a", "mix",
               {C("app", kube::kRequestCpu | kube::kRequestMemory),
                C("sidecar", kube::kRequestCpu | kube::kLimitCpu | kube::kLimitMemory)}),
       SkipReason::kNone, "app: limits.memory; sidecar: requests.memory"},
      {"succeeded pod skipped", StrictRules(), done, SkipReason::kTerminal, ""},
      {"failed pod skipped", StrictRules(), failed, SkipReason::kTerminal, ""},
      {"nothing required", HygieneRules{}, MakePod("team-a", "none", {C("app", 0)}),
       SkipReason::kNone, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const PodFindings f = EvaluatePod(c.rules, c.pod);
    EXPECT_EQ(f.skipped, c.skipped);
    EXPECT_EQ(f.uid, c.pod.meta.uid);
    EXPECT_EQ(f.name, c.pod.meta.name);
    EXPECT_EQ(f.qos, c.pod.qos);
    EXPECT_EQ(EncodeAnnotation(f), c.annotation);
    EXPECT_EQ(f.Flagged(), !c.annotation.empty());
  }
}

TEST(EvaluatePod, PerContainerBits) {
  const PodFindings f = EvaluatePod(
      DefaultRules(), MakePod("ns", "p",
                              {C("setup", kube::kRequestCpu, true), C("app", kAll),
                               C("sidecar", kube::kRequestCpu | kube::kRequestMemory)}));
  ASSERT_EQ(f.containers.size(), 2u);
  EXPECT_EQ(f.containers[0],
            (ContainerFinding{"setup", true, kube::kRequestMemory | kube::kLimitMemory}));
  EXPECT_EQ(f.containers[1], (ContainerFinding{"sidecar", false, kube::kLimitMemory}));
  EXPECT_EQ(f.MissingUnion(), kube::kRequestMemory | kube::kLimitMemory);
}

TEST(EncodeAnnotation, StableAndDeterministic) {
  const kube::Pod pod =
      MakePod("ns", "p", {C("app", kube::kRequestMemory), C("sidecar", kube::kLimitMemory)});
  const std::string first = EncodeAnnotation(EvaluatePod(DefaultRules(), pod));
  EXPECT_EQ(first, "app: requests.cpu,limits.memory; sidecar: requests.cpu,requests.memory");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(EncodeAnnotation(EvaluatePod(DefaultRules(), pod)), first);
  // Rules listing the same fields compile to the same bytes, whatever their form.
  api::ResourceHygieneSpec spec;
  spec.exclude_namespaces = {"x", "kube-system"};
  EXPECT_EQ(EncodeAnnotation(EvaluatePod(CompileRules(spec), pod)), first);
}

TEST(FormatResourceFields, FixedOrder) {
  EXPECT_EQ(FormatResourceFields(0), "");
  EXPECT_EQ(FormatResourceFields(kube::kLimitEphemeralStorage | kube::kRequestCpu),
            "requests.cpu,limits.ephemeral-storage");
  EXPECT_EQ(ResourceFieldName(kube::kRequestEphemeralStorage), "requests.ephemeral-storage");
}

TEST(EventMessage, NamesContainersFieldsAndQos) {
  const PodFindings f = EvaluatePod(
      DefaultRules(),
      MakePod("team-a", "web-1", {C("setup", 0, true), C("app", 0)}, kube::QosClass::kBestEffort));
  EXPECT_EQ(EventMessage(f),
            "Pod team-a/web-1 (QoS BestEffort) lacks resource requirements: init container "
            "setup: requests.cpu, requests.memory, limits.memory; container app: requests.cpu, "
            "requests.memory, limits.memory");
  kube::Pod unknown_qos = MakePod("team-a", "web-2", {C("app", kube::kRequestCpu)});
  unknown_qos.qos = kube::QosClass::kUnknown;
  EXPECT_EQ(EventMessage(EvaluatePod(DefaultRules(), unknown_qos)),
            "Pod team-a/web-2 lacks resource requirements: container app: requests.memory, "
            "limits.memory");
}

}  // namespace
}  // namespace nodeguard::hygiene
