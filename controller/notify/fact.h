#pragma once

// Notifications (issue 20), the pure half: what the controller tells people.
//
// A Fact is one thing that happened, recorded once where the controller
// already records its Event (remediation started / escalated / succeeded /
// failed, storm detected / cleared, a node refused because a person cordoned
// it, a pod density cap reached, an early-warning level change). Sinks
// (sink.h) select the kinds they want and turn a Fact into a payload
// (payload.h). Its id (FactId) is derived from cluster state only (policy,
// node, the remediation request's id, the phase), never from a clock or a
// process, so the same fact sent again after a restart or a leader hand-over
// carries the same id and a receiver can de-duplicate it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"

namespace nodeguard::notify {

enum class FactKind {
  kRemediationStarted,
  kRemediationEscalated,
  kRemediationSucceeded,
  kRemediationFailed,
  kStormDetected,
  kStormCleared,
  kNodeRefusedCordoned,  // A person cordoned the node: nodeguard leaves it alone.
  kDensityCapReached,    // Aggregated: one fact lists the nodes (DensityAggregator).
  kEarlyWarningChanged,
};

// Every kind, in declaration order (for "all kinds" and for tests).
const std::vector<FactKind>& AllFactKinds();

// "remediation.started", "storm.detected", "node.refused-cordoned",
// "density.cap-reached", "early-warning.changed", ...: the kind's name in
// configuration, metrics labels and the CloudEvents type
// ("io.nodeguard." + name).
const char* FactKindName(FactKind kind);
std::optional<FactKind> ParseFactKind(std::string_view name);

// Whether a person should act: failed, storm and refused facts are warnings.
bool IsWarning(FactKind kind);

struct Fact {
  FactKind kind = FactKind::kRemediationStarted;
  std::string cluster;  // A name people recognise ("prod-hz-1"); may be empty.
  std::string policy;   // The NodeHealthPolicy's name; empty for controller-wide facts.
  std::string node;     // Empty for storm and aggregated density facts.
  std::string action;   // "reboot", "drain", ... (remediation facts).
  std::string reason;   // Why: "Ready=False for 5m", "12 of 40 nodes unhealthy".
  std::string detail;   // More: an error, "from drain to reboot", a level change.
  std::string level;    // Early-warning facts: the level now ("Healthy", "Degraded", "Critical").
  std::optional<Duration> duration;  // How long the remediation took so far.
  WallTime time{};                   // When it happened (from cluster state where possible).
  // What makes the id unique and stable: the remediation request's id (its
  // annotation or the Lease's holder transition), a storm episode's start,
  // an aggregation window's start. Required for a stable FactId.
  std::string occurrence;
  std::vector<std::string> nodes;  // Aggregated facts: the nodes, sorted.
  size_t more_nodes = 0;           // Aggregated facts: nodes left out of `nodes`.
};

// "<kind>/<policy>/<node>/<occurrence>", each part percent-escaped so that
// '/' cannot be forged: deterministic, readable, a valid CloudEvents id.
std::string FactId(const Fact& fact);

// The same for one fact: an early-warning change is a warning when the
// level is worse than Healthy.
bool IsWarning(const Fact& fact);

// Text a person understands at 3 a.m.: a one-line title ("Node worker-3:
// remediation FAILED (reboot)") and a few plain sentences without links
// saying what happened, what nodeguard did and whether someone must act.
struct FactText {
  std::string title;
  std::string body;
  // Labelled values for sinks that lay them out ("Node", "Policy", ...),
  // in display order, only those set.
  std::vector<std::pair<std::string, std::string>> fields;
};
FactText DescribeFact(const Fact& fact);

// "4m12s" for people (whole seconds; below a second "0s").
std::string HumanDuration(Duration d);

}  // namespace nodeguard::notify
