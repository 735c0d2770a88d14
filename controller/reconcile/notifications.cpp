#include "reconcile/notifications.h"

#include <condition_variable>
#include <fstream>
#include <sstream>

#include "common/time.h"
#include "notify/config.h"
#include "observe/log.h"
#include "reconcile/conditions.h"

namespace nodeguard::runtime {
namespace {

Result<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::Invalid(std::string("cannot read ") + what + " " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The series of nodeguard_notifications_total that exist from start-up at 0
// for every sink and kind it wants, so an increase() alert sees the first
// failure (a series born at 1 shows no increase). Rarer reasons (http_408,
// http_other) appear when they happen.
constexpr std::pair<const char*, const char*> kMetricSeries[] = {
    {"sent", "ok"},         {"failed", "http_4xx"},    {"failed", "http_5xx"},
    {"failed", "http_429"}, {"failed", "network"},     {"failed", "tls"},
    {"failed", "max_age"},  {"dropped", "queue_full"}, {"dropped", "shutdown"}};

// The fields every controller fact carries, from the Event it goes with.
notify::Fact PolicyFact(notify::FactKind kind, const std::string& cluster,
                        const std::string& policy, std::string node, const std::string& reason,
                        WallTime now) {
  notify::Fact f;
  f.kind = kind;
  f.cluster = cluster;
  f.policy = policy;
  f.node = std::move(node);
  f.reason = reason;
  f.time = now;
  return f;
}

}  // namespace

DensityNotifications::DensityNotifications(std::string cluster, Duration interval, Send send,
                                           const Clock& clock, Duration gather)
    : cluster_(std::move(cluster)),
      send_(std::move(send)),
      clock_(clock),
      aggregator_(interval, 50, gather) {}

void DensityNotifications::CapReached(const std::string& policy, const std::string& node) {
  std::lock_guard lock(mu_);
  aggregator_.Add(policy, node, clock_.Now());
}

std::optional<WallTime> DensityNotifications::Flush() {
  std::vector<notify::Fact> due;
  std::optional<WallTime> next;
  {
    std::lock_guard lock(mu_);
    due = aggregator_.Flush(clock_.Now(), cluster_);
    next = aggregator_.NextDue();
  }
  for (const auto& fact : due) send_(fact);  // Outside the lock: Notify takes its own.
  return next;
}

void SinkHealthBoard::Record(std::string_view sink, std::string_view outcome,
                             std::string_view reason) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    if (!health_.Record(sink, outcome, reason)) return;
    notify = on_change_;
  }
  if (notify) notify();
}

std::vector<notify::FailingSink> SinkHealthBoard::Failing() const {
  std::lock_guard lock(mu_);
  return health_.Failing();
}

void SinkHealthBoard::OnChange(std::function<void()> on_change) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(on_change);
}

api::Condition NotificationsCondition(const std::vector<notify::FailingSink>& failing,
                                      int64_t observed_generation) {
  if (failing.empty()) {
    return MakeCondition(kConditionNotificationsFailing, false, "Delivering",
                         "No notification sink has failed " +
                             std::to_string(notify::kFailingAfter) + " times in a row",
                         observed_generation);
  }
  std::string message;
  for (const auto& f : failing) {
    if (!message.empty()) message += "; ";
    message += "sink " + f.name + ": " + std::to_string(f.consecutive) +
               " notifications in a row failed, the last with " + f.reason;
  }
  message +=
      ". People may not hear about remediations: see the controller's log and "
      "nodeguard_notifications_total";
  return MakeCondition(kConditionNotificationsFailing, true, "SinkFailing", message,
                       observed_generation);
}

void Notifications::Stop(std::chrono::milliseconds grace) {
  health.OnChange(nullptr);  // The queues it fills are shut down by now.
  if (density_flusher.joinable()) {
    density_flusher.request_stop();
    density_flusher.join();
  }
  notifier->WaitIdle(grace);
  notifier->Stop();
}

Result<std::unique_ptr<Notifications>> StartNotifications(const ControllerOptions& options,
                                                          observe::MetricsRegistry& metrics) {
  auto& total = metrics.MustCounter(
      "nodeguard_notifications_total",
      "Notifications by sink, kind, outcome and reason: sent (2xx; reason ok), failed (refused "
      "with a 4xx, or given up after the retries; reason http_4xx, http_5xx, http_408, "
      "http_429, network, tls, http_other or max_age), dropped (reason queue_full or shutdown).",
      {"sink", "kind", "outcome", "reason"});
  if (options.notifications_config.empty()) return std::unique_ptr<Notifications>();
  auto text = ReadFile(options.notifications_config, "--notifications-config");
  if (!text.ok()) return text.error();
  auto config = notify::ParseNotificationsConfig(*text, /*allow_http=*/false);
  if (!config.ok()) return config.error();
  notify::PosterOptions poster_options;
  if (!options.notifications_ca_file.empty()) {
    auto ca = ReadFile(options.notifications_ca_file, "--notifications-ca-file");
    if (!ca.ok()) return ca.error();
    poster_options.ca_pem = *ca;
  }
  for (const auto& sink : config->sinks) {
    for (notify::FactKind kind : notify::AllFactKinds()) {
      if (!sink.Wants(kind)) continue;
      for (const auto& [outcome, reason] : kMetricSeries) {
        total.WithLabels({sink.name, notify::FactKindName(kind), outcome, reason});
      }
    }
  }
  auto out = std::make_unique<Notifications>();
  out->cluster = config->cluster;
  out->poster = std::make_unique<notify::CpprestPoster>(std::move(poster_options));
  SinkHealthBoard* health = &out->health;
  auto on_outcome = [&total, health](std::string_view sink, notify::FactKind kind,
                                     std::string_view outcome, std::string_view reason) {
    total
        .WithLabels({std::string(sink), notify::FactKindName(kind), std::string(outcome),
                     std::string(reason)})
        .Inc();
    health->Record(sink, outcome, reason);
  };
  auto log = [](std::string_view line) {
    observe::Log().With({{"component", "notify"}}).Warn(line);
  };
  observe::Log().Info("notifications configured",
                      {{"sinks", static_cast<int64_t>(config->sinks.size())}});
  out->notifier = std::make_unique<notify::Notifier>(
      std::move(config->sinks), notify::DeliveryOptions{}, *out->poster, on_outcome, log);
  notify::Notifier* notifier = out->notifier.get();
  out->density = std::make_unique<DensityNotifications>(
      config->cluster, config->density_interval,
      [notifier](const notify::Fact& f) { notifier->Notify(f); }, RealClock::Instance());
  // A tick of a second: a due message goes within a second of its time, at
  // the cost of a lock and a map walk a second.
  out->density_flusher = std::jthread([density = out->density.get()](std::stop_token stop) {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    while (!stop.stop_requested()) {
      cv.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
      if (stop.stop_requested()) break;
      density->Flush();
    }
  });
  return out;
}

std::optional<notify::Fact> RemediationFact(const std::string& cluster, const std::string& policy,
                                            const remediation::NodeDecision& decision,
                                            const remediation::Intent& event, WallTime now) {
  notify::FactKind kind;
  if (event.reason == "RemediationStarted" || event.reason == "RemediationTookOver") {
    kind = notify::FactKind::kRemediationStarted;
  } else if (event.reason == "RemediationEscalated") {
    kind = notify::FactKind::kRemediationEscalated;
  } else if (event.reason == "RemediationSucceeded") {
    kind = notify::FactKind::kRemediationSucceeded;
  } else if (event.reason == "RemediationFailed") {
    kind = notify::FactKind::kRemediationFailed;
  } else if (event.reason == "RemediationPending" &&
             decision.hold == remediation::Hold::kCordonedByPerson) {
    kind = notify::FactKind::kNodeRefusedCordoned;
  } else {
    return std::nullopt;
  }
  notify::Fact f = PolicyFact(kind, cluster, policy, decision.node, event.message, now);
  if (decision.state) {
    const remediation::RemediationState& s = *decision.state;
    f.occurrence = s.id;
    if (f.kind == notify::FactKind::kRemediationEscalated) {
      f.occurrence += "/" + std::to_string(s.action_index);
    }
    if (s.action) f.action = api::RemediationActionName(*s.action);
    if (s.started_at && now >= *s.started_at) f.duration = now - *s.started_at;
  }
  return f;
}

std::optional<notify::Fact> EarlyWarningFact(const std::string& cluster, const std::string& policy,
                                             const kube::Node& node,
                                             const EarlyWarningAnnouncement& announcement,
                                             WallTime now) {
  switch (node.early_warning.level) {
    case kube::EarlyWarningLevel::kHealthy:
    case kube::EarlyWarningLevel::kDegraded:
    case kube::EarlyWarningLevel::kCritical:
      break;
    default:
      return std::nullopt;
  }
  notify::Fact f = PolicyFact(notify::FactKind::kEarlyWarningChanged, cluster, policy,
                              node.meta.name, announcement.message, now);
  f.level = kube::EarlyWarningLevelName(node.early_warning.level);
  f.occurrence = announcement.annotation;
  return f;
}

std::optional<notify::Fact> StormFact(const std::string& cluster, const std::string& policy,
                                      const remediation::Intent& event, WallTime now) {
  notify::FactKind kind;
  if (event.reason == "StormDetected") {
    kind = notify::FactKind::kStormDetected;
  } else if (event.reason == "StormCleared") {
    kind = notify::FactKind::kStormCleared;
  } else {
    return std::nullopt;
  }
  notify::Fact f = PolicyFact(kind, cluster, policy, "", event.message, now);
  f.occurrence = FormatRfc3339(std::chrono::floor<std::chrono::minutes>(now));
  return f;
}

}  // namespace nodeguard::runtime
