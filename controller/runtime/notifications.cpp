#include "runtime/notifications.h"

#include <fstream>
#include <sstream>

#include "common/time.h"
#include "notify/config.h"
#include "observe/log.h"

namespace nodeguard::runtime {
namespace {

Result<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::Invalid(std::string("cannot read ") + what + " " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

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

Result<std::unique_ptr<Notifications>> StartNotifications(const ControllerOptions& options,
                                                          observe::MetricsRegistry& metrics) {
  auto& total = metrics.MustCounter(
      "nodeguard_notifications_total",
      "Notifications by sink, kind and outcome: sent (2xx), failed (refused with a 4xx, or "
      "given up after the retries), dropped (queue full, or shutdown).",
      {"sink", "kind", "outcome"});
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
      for (const char* outcome : {"sent", "failed", "dropped"}) {
        total.WithLabels({sink.name, notify::FactKindName(kind), outcome});
      }
    }
  }
  auto out = std::make_unique<Notifications>();
  out->cluster = config->cluster;
  out->poster = std::make_unique<notify::CpprestPoster>(std::move(poster_options));
  auto on_outcome = [&total](std::string_view sink, notify::FactKind kind, std::string_view outcome,
                             std::string_view) {
    total.WithLabels({std::string(sink), notify::FactKindName(kind), std::string(outcome)}).Inc();
  };
  auto log = [](std::string_view line) {
    observe::Log().With({{"component", "notify"}}).Warn(line);
  };
  observe::Log().Info("notifications configured",
                      {{"sinks", static_cast<int64_t>(config->sinks.size())}});
  out->notifier = std::make_unique<notify::Notifier>(
      std::move(config->sinks), notify::DeliveryOptions{}, *out->poster, on_outcome, log);
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
