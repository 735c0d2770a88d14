#pragma once

// Notifications (issue 20) in the controller: the notifier built from
// --notifications-config, its metric, and the facts the remediation
// reconciler records where it records its Events (one place: an Event and a
// notification come from the same intent).
//
// Wired: remediation started (and taken over) / escalated / succeeded /
// failed, a node left alone because a person cordoned it, storm detected /
// cleared, early-warning level changes (where the policy reconciler
// announces them), and density caps (DensityNotifications below: the density
// reconciler records each node it taints at its cap, a flush thread sends
// them aggregated).

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "common/result.h"
#include "notify/delivery.h"
#include "notify/fact.h"
#include "notify/poster_cpprest.h"
#include "notify/worker.h"
#include "observe/metrics.h"
#include "reconcile/early_warning.h"
#include "reconcile/options.h"
#include "remediation/decide.h"

namespace nodeguard::runtime {

// How long the first capped node after a quiet densityInterval waits for the
// nodes a burst caps right behind it (notify::DensityAggregator's gather):
// a rollout caps its nodes within seconds of each other, and one message
// listing them beats one node now and the others an interval later.
inline constexpr Duration kDensityGather = std::chrono::seconds(5);

// density.cap-reached, aggregated: at most one fact per policy per
// densityInterval listing the nodes tainted at their cap since the last one.
// CapReached is called by the density reconciler when it has written the
// taint of a node reaching its cap (the transition, not every reconcile; so
// only by the leader, never in dry run); Flush sends what is due. The ids are
// deterministic: <policy> and the window's start on a grid of the interval.
// Thread-safe.
class DensityNotifications {
 public:
  using Send = std::function<void(const notify::Fact&)>;
  // `clock` outlives this.
  DensityNotifications(std::string cluster, Duration interval, Send send, const Clock& clock,
                       Duration gather = kDensityGather);

  void CapReached(const std::string& policy, const std::string& node);
  // Sends the facts due now; returns when the next is due (nullopt: none
  // pending).
  std::optional<WallTime> Flush();

 private:
  const std::string cluster_;
  const Send send_;
  const Clock& clock_;
  std::mutex mu_;
  notify::DensityAggregator aggregator_;  // Guarded by mu_.
};

// The policies' condition type for sinks that keep failing.
inline constexpr const char* kConditionNotificationsFailing = "NotificationsFailing";

// The sinks' health (notify::SinkHealth) as the delivery threads report it,
// read by the policy reconciler for the NotificationsFailing condition.
// Thread-safe; `on_change` runs (outside the lock, on a delivery thread)
// when a sink turns failing or recovers: the controller re-queues every
// policy then.
class SinkHealthBoard {
 public:
  void Record(std::string_view sink, std::string_view outcome, std::string_view reason);
  std::vector<notify::FailingSink> Failing() const;
  void OnChange(std::function<void()> on_change);

 private:
  mutable std::mutex mu_;
  notify::SinkHealth health_;        // Guarded by mu_.
  std::function<void()> on_change_;  // Guarded by mu_.
};

// The NotificationsFailing condition of every policy: True (reason
// SinkFailing) naming each failing sink, its failures in a row and the last
// one's reason; False (reason Delivering) otherwise. Never a URL.
api::Condition NotificationsCondition(const std::vector<notify::FailingSink>& failing,
                                      int64_t observed_generation);

// The notifier and what it needs alive. Stop() drains nothing beyond a
// moment: what is still queued is counted dropped (delivery is at-most-once).
struct Notifications {
  std::string cluster;
  SinkHealthBoard health;  // Before the notifier: its threads report into it.
  std::unique_ptr<notify::CpprestPoster> poster;
  std::unique_ptr<notify::Notifier> notifier;
  std::unique_ptr<DensityNotifications> density;
  // Calls density->Flush() every second until stopped (before `notifier`
  // stops: it pushes into it). Declared last: destroyed (stopped) first.
  std::jthread density_flusher;

  // The flusher first, then `grace` for what is queued, then the notifier.
  void Stop(std::chrono::milliseconds grace);
};

// Null when --notifications-config is unset. Starts the density flusher.
// The metric's `reason` is "ok" for sent, FailureReason (notify/delivery.h)
// for failed, "queue_full" or "shutdown" for dropped. An Error (start-up fails) when
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
