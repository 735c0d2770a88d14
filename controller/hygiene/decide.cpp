#include "hygiene/decide.h"

namespace nodeguard::hygiene {

std::string DesiredAnnotation(const HygieneRules& rules, const PodFindings& findings) {
  if (!rules.annotate_pods || findings.skipped != SkipReason::kNone) return "";
  return EncodeAnnotation(findings);
}

PodDecision DecidePod(const HygieneRules& rules, const kube::Pod& pod, bool reported_in_memory) {
  PodDecision d;
  d.findings = EvaluatePod(rules, pod);
  d.dedup_key = pod.meta.uid.str();
  // A terminal pod no longer runs: writing to it is wasted work, and its
  // annotation goes away with it.
  if (d.findings.skipped != SkipReason::kTerminal) {
    std::string desired = DesiredAnnotation(rules, d.findings);
    if (desired != pod.resource_findings_annotation) {
      d.annotation = desired.empty() ? AnnotationAction::kRemove : AnnotationAction::kSet;
      d.annotation_value = std::move(desired);
    }
  }
  const bool reported = reported_in_memory || !pod.resource_findings_annotation.empty();
  if (rules.emit_events && d.findings.Flagged() && !reported) {
    d.emit_event = true;
    d.event = {"Warning", std::string(kMissingResourcesReason), EventMessage(d.findings)};
  }
  return d;
}

std::string EventObjectName(const kube::Pod& pod) {
  const std::string suffix = ".nodeguard-" + pod.meta.uid.str();
  constexpr size_t kMaxName = 253;
  std::string prefix = pod.meta.name;
  if (prefix.size() + suffix.size() > kMaxName) prefix.resize(kMaxName - suffix.size());
  // A cut name must still end in an alphanumeric character.
  while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.')) prefix.pop_back();
  return prefix + suffix;
}

}  // namespace nodeguard::hygiene
