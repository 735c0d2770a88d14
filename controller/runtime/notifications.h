#pragma once

// Notifications (issue 20) in the controller: the notifier built from
// --notifications-config, its metric, and the facts the remediation
// reconciler records where it records its Events (one place: an Event and a
// notification come from the same intent).
//
// Wired so far: remediation started (and taken over) / escalated / succeeded
// / failed, a node left alone because a person cordoned it, storm detected /
// cleared, early-warning level changes (where the policy reconciler
// announces them). Not yet: density caps (notify::DensityAggregator is ready).

#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "notify/fact.h"
#include "notify/poster_cpprest.h"
#include "notify/worker.h"
#include "observe/metrics.h"
#include "remediation/decide.h"
#include "runtime/early_warning.h"
#include "runtime/options.h"

namespace nodeguard::runtime {

// The notifier and what it needs alive. Stop() before destruction drains
// nothing: what is queued is counted dropped (delivery is at-most-once).
struct Notifications {
  std::string cluster;
  std::unique_ptr<notify::CpprestPoster> poster;
  std::unique_ptr<notify::Notifier> notifier;
};

// Null when --notifications-config is unset. An Error (start-up fails) when
// the file or the CA file cannot be read or the config is invalid; the error
// never contains a URL or a secret. Registers nodeguard_notifications_total
// {sink,kind,outcome} (always, so the family is exported even without sinks)
// with every series of every configured sink at 0.
Result<std::unique_ptr<Notifications>> StartNotifications(const ControllerOptions& options,
                                                          observe::MetricsRegistry& metrics);

// The fact for a remediation Event (reason RemediationStarted,
// RemediationTookOver, RemediationEscalated, RemediationSucceeded,
// RemediationFailed, and RemediationPending when the node waits because a
// person cordoned it: emitted once, when it turns Pending) of `decision`;
// nullopt for any other reason. The id's
// occurrence is the remediation's id ("<node>-<detectedAt>", from the node's
// state annotation) and, for an escalation, the rung's index: the same
// transition recorded again after a restart has the same id.
std::optional<notify::Fact> RemediationFact(const std::string& cluster, const std::string& policy,
                                            const remediation::NodeDecision& decision,
                                            const remediation::Intent& event, WallTime now);

// The fact for a policy Event (StormDetected, StormCleared); nullopt for any
// other reason. Its occurrence is the minute it was decided.
std::optional<notify::Fact> StormFact(const std::string& cluster, const std::string& policy,
                                      const remediation::Intent& event, WallTime now);

// The fact for an announced early-warning level change of `node` (the
// announcement AnnounceEarlyWarning made; sent with its Event, so once per
// change as the Event is). Its occurrence is the announced value ("Degraded
// <since>"): the same change announced again has the same id. nullopt when
// the node's level is not Healthy, Degraded or Critical (never announced).
std::optional<notify::Fact> EarlyWarningFact(const std::string& cluster, const std::string& policy,
                                             const kube::Node& node,
                                             const EarlyWarningAnnouncement& announcement,
                                             WallTime now);

}  // namespace nodeguard::runtime
