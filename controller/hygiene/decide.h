#pragma once

// What nodeguard does about one pod's findings: whether to write or remove the
// nodeguard.io/resource-findings annotation, and whether to emit the one
// Warning Event that pod's UID may ever get.
//
// Restart rule: the annotation is the persisted "already reported" marker.
// A pod that carries any findings annotation has been reported (an Event was
// emitted when it was first written), so after nodeguard restarts such a pod
// yields no new Event, and if its annotation already equals the current
// findings, no write either. Within one process the caller also passes its own
// in-memory "reported" bit, which covers policies with annotatePods off. As a
// last guard across restarts the Event's object name is derived from the pod
// UID (EventObjectName), so re-creating it returns AlreadyExists instead of
// a duplicate while the first Event lives (one hour by default).

#include <string>

#include "hygiene/findings.h"

namespace nodeguard::hygiene {

inline constexpr std::string_view kMissingResourcesReason = "MissingResourceRequirements";

enum class AnnotationAction : uint8_t {
  kNone,    // The pod's annotation already matches (or the pod is terminal).
  kSet,     // Write annotation_value (merge patch on metadata.annotations).
  kRemove,  // Delete the annotation: the pod was fixed, is excluded, or annotatePods is off.
};

struct EventText {
  std::string type;  // "Warning" or "Normal".
  std::string reason;
  std::string message;
};

struct PodDecision {
  PodFindings findings;
  AnnotationAction annotation = AnnotationAction::kNone;
  std::string annotation_value;  // Set when annotation == kSet.
  bool emit_event = false;
  EventText event;        // Filled when emit_event.
  std::string dedup_key;  // The pod UID: at most one Event per key.
};

// `reported_in_memory`: the caller already emitted this UID's Event since it started.
PodDecision DecidePod(const HygieneRules& rules, const kube::Pod& pod, bool reported_in_memory);

// The annotation value nodeguard wants on the pod: empty means "absent".
std::string DesiredAnnotation(const HygieneRules& rules, const PodFindings& findings);

// Deterministic Event name for the pod's findings Event: "<pod>.nodeguard-<uid>",
// with the pod name cut so the result stays within 253 characters.
std::string EventObjectName(const kube::Pod& pod);

}  // namespace nodeguard::hygiene
