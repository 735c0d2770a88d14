#include "hygiene/decide.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "pods.h"

namespace nodeguard::hygiene {
namespace {

using testing::C;
using testing::kAll;
using testing::MakePod;

HygieneRules Rules(bool annotate, bool events) {
  api::ResourceHygieneSpec spec;
  spec.annotate_pods = annotate;
  spec.emit_events = events;
  return CompileRules(spec);
}

constexpr const char* kFindings = "app: requests.cpu,requests.memory,limits.memory";

kube::Pod Bad(std::string annotation = "") {
  kube::Pod p = MakePod("team-a", "web-1", {C("app", 0)}, kube::QosClass::kBestEffort);
  p.resource_findings_annotation = kube::Symbol::Intern(annotation);
  return p;
}

kube::Pod Good(std::string annotation = "") {
  kube::Pod p = MakePod("team-a", "web-1", {C("app", kAll)}, kube::QosClass::kGuaranteed);
  p.resource_findings_annotation = kube::Symbol::Intern(annotation);
  return p;
}

struct DecideCase {
  const char* name;
  HygieneRules rules;
  kube::Pod pod;
  bool reported_in_memory;
  AnnotationAction annotation;
  std::string value;
  bool event;
};

TEST(DecidePod, Table) {
  kube::Pod terminal = Bad();
  terminal.phase = kube::PodPhase::kFailed;
  kube::Pod terminal_annotated = Bad(kFindings);
  terminal_annotated.phase = kube::PodPhase::kSucceeded;
  kube::Pod excluded = MakePod("kube-system", "coredns", {C("app", 0)});
  excluded.resource_findings_annotation = kube::Symbol::Intern(kFindings);
  const DecideCase cases[] = {
      {"new flagged pod: annotate and report", Rules(true, true), Bad(), false,
       AnnotationAction::kSet, kFindings, true},
      {"restart: annotation matches, nothing to do", Rules(true, true), Bad(kFindings), false,
       AnnotationAction::kNone, "", false},
      {"already reported in this process", Rules(true, true), Bad(), true, AnnotationAction::kSet,
       kFindings, false},
      {"findings changed (policy edit): rewrite, no second event", Rules(true, true),
       Bad("app: requests.cpu"), false, AnnotationAction::kSet, kFindings, false},
      {"fixed in place: remove annotation", Rules(true, true), Good(kFindings), false,
       AnnotationAction::kRemove, "", false},
      {"good pod, no annotation", Rules(true, true), Good(), false, AnnotationAction::kNone, "",
       false},
      {"events off", Rules(true, false), Bad(), false, AnnotationAction::kSet, kFindings, false},
      {"annotations off: event only", Rules(false, true), Bad(), false, AnnotationAction::kNone, "",
       true},
      {"annotations off: an old annotation is removed, and counts as reported", Rules(false, true),
       Bad(kFindings), false, AnnotationAction::kRemove, "", false},
      {"terminal pod: nothing", Rules(true, true), terminal, false, AnnotationAction::kNone, "",
       false},
      {"terminal pod keeps its annotation", Rules(true, true), terminal_annotated, false,
       AnnotationAction::kNone, "", false},
      {"excluded namespace: stale annotation removed, no event", Rules(true, true), excluded, false,
       AnnotationAction::kRemove, "", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const PodDecision d = DecidePod(c.rules, c.pod, c.reported_in_memory);
    EXPECT_EQ(d.annotation, c.annotation);
    EXPECT_EQ(d.annotation_value, c.value);
    EXPECT_EQ(d.emit_event, c.event);
    EXPECT_EQ(d.dedup_key, c.pod.meta.uid);
    if (c.event) {
      EXPECT_EQ(d.event.type, "Warning");
      EXPECT_EQ(d.event.reason, "MissingResourceRequirements");
      EXPECT_EQ(d.event.message, EventMessage(d.findings));
    }
  }
}

// A process that applies its decisions (writes the annotation, remembers the
// reported UIDs), then restarts with only the pods' annotations as memory.
TEST(DecidePod, RestartEmitsNoDuplicateEvents) {
  const HygieneRules rules = Rules(true, true);
  std::vector<kube::Pod> pods = {Bad(), Good()};
  pods[0].meta.uid = "u1";
  pods[1].meta.uid = "u2";
  int events = 0;
  auto run = [&](std::set<std::string>& reported) {
    for (auto& pod : pods) {
      const PodDecision d = DecidePod(rules, pod, reported.count(pod.meta.uid.str()) > 0);
      if (d.emit_event) {
        ++events;
        reported.insert(d.dedup_key);
      }
      if (d.annotation == AnnotationAction::kSet)
        pod.resource_findings_annotation = kube::Symbol::Intern(d.annotation_value);
      if (d.annotation == AnnotationAction::kRemove)
        pod.resource_findings_annotation = kube::Symbol();
    }
  };
  std::set<std::string> first_process;
  run(first_process);
  run(first_process);  // A resync: nothing new.
  EXPECT_EQ(events, 1);
  std::set<std::string> after_restart;
  run(after_restart);
  EXPECT_EQ(events, 1);
  EXPECT_EQ(pods[0].resource_findings_annotation, kFindings);
  EXPECT_EQ(pods[1].resource_findings_annotation, "");
}

TEST(EventObjectName, DeterministicAndBounded) {
  kube::Pod p = Bad();
  p.meta.uid = "0f6a6f1e-6b7d-4c55-9d0c-3f1f1d1f9a01";
  EXPECT_EQ(EventObjectName(p), "web-1.nodeguard-0f6a6f1e-6b7d-4c55-9d0c-3f1f1d1f9a01");
  p.meta.name = std::string(250, 'a');
  p.meta.name[204] = '-';  // The cut falls after these: they must not end the name.
  p.meta.name[205] = '-';
  const std::string name = EventObjectName(p);
  EXPECT_LE(name.size(), 253u);
  EXPECT_EQ(name, std::string(204, 'a') + ".nodeguard-0f6a6f1e-6b7d-4c55-9d0c-3f1f1d1f9a01");
}

}  // namespace
}  // namespace nodeguard::hygiene
