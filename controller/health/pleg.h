#pragma once

// Reads the kubelet's Ready condition message for the PLEG health check.
//
// The kubelet builds the message from runtimeState.runtimeErrors() and its
// network/storage/shutdown errors, joined by utilerrors.NewAggregate: one
// error alone is printed bare, several are printed "[a, b, c]" (nested
// aggregates are flattened, duplicates dropped). Kubelets before 1.14 joined
// the runtime errors with "," and no space. The PLEG part reads either
//   "PLEG is not healthy: pleg was last seen active 3m7.629592089s ago; threshold is 3m0s"
// or, before the first successful relist,
//   "PLEG is not healthy: pleg has yet to be successful".
// A container-manager soft requirement may be appended as ". WARNING: ...".
//
// The classifier searches for these fixed phrases rather than splitting the
// message, because other aggregated errors may themselves contain ", ".

#include <optional>
#include <string_view>

#include "common/duration.h"

namespace nodeguard::health {

struct PlegReport {
  // The message carries "PLEG is not healthy".
  bool pleg_unhealthy = false;
  // "pleg has yet to be successful": no relist has completed since the kubelet started.
  bool never_succeeded = false;
  // How long ago the last relist completed, and the kubelet's threshold
  // (normally 3m0s). Unset when the message does not carry them or they do
  // not parse as Go durations.
  std::optional<Duration> last_seen_active;
  std::optional<Duration> threshold;
  // "container runtime is down": the kubelet's periodic runtime status call
  // has not succeeded within its threshold.
  bool runtime_down = false;
  // "container runtime status check may not have completed yet": the kubelet
  // has just started.
  bool runtime_status_pending = false;

  friend bool operator==(const PlegReport&, const PlegReport&) = default;
};

// Classifies a Ready condition message. Never fails: a message without the
// PLEG phrase yields pleg_unhealthy == false.
PlegReport ClassifyReadyMessage(std::string_view message);

}  // namespace nodeguard::health
