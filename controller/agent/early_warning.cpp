#include "agent/early_warning.h"

#include "observe/log.h"

namespace nodeguard::agent {

namespace {

using early::Level;
using early::ScrapeFailure;
using observe::Log;

double LevelValue(Level l) {
  switch (l) {
    case Level::kHealthy:
      return 0;
    case Level::kDegraded:
      return 1;
    case Level::kCritical:
      return 2;
  }
  return 0;
}

}  // namespace

EarlyWarningMetrics::EarlyWarningMetrics(observe::MetricsRegistry& registry)
    : scrape_failures(registry.MustCounter(
          "nodeguard_agent_kubelet_scrape_failures_total",
          "Scrapes of the kubelet's /metrics that gave no figures, by reason (NoToken, Timeout, "
          "TLS, Unreachable, Unauthorized, Forbidden, HTTPStatus, TooLarge, Truncated, "
          "Unparsable).",
          {"reason"})),
      scrape_duration(registry.MustHistogram(
          "nodeguard_agent_kubelet_scrape_duration_seconds",
          "How long each completed scrape of the kubelet's /metrics took (failed ones too).", {},
          {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 150})),
      level(registry.MustGauge("nodeguard_agent_early_warning_level",
                               "The node's early-warning level as this agent decided it: 0 "
                               "Healthy, 1 Degraded, 2 Critical.")),
      scrape_pending(registry.MustGauge(
          "nodeguard_agent_kubelet_scrape_pending_seconds",
          "How long the current scrape of the kubelet's /metrics has waited for its answer "
          "(0 when none is in flight).")),
      publishes(registry.MustCounter(
          "nodeguard_agent_early_warning_writes_total",
          "Writes of the nodeguard.io/early-warning annotation, by reason (First, LevelChanged, "
          "FiguresMoved).",
          {"reason"})),
      publish_errors(
          registry.MustCounter("nodeguard_agent_early_warning_write_errors_total",
                               "Writes of the nodeguard.io/early-warning annotation that failed "
                               "(retried on the next decision).")) {
  for (ScrapeFailure f : early::CountedScrapeFailures()) {
    (void)scrape_failures.WithLabels({early::ScrapeFailureName(f)});
  }
  for (auto r : {early::PublishReason::kFirst, early::PublishReason::kLevelChanged,
                 early::PublishReason::kFiguresMoved}) {
    (void)publishes.WithLabels({early::PublishReasonName(r)});
  }
  (void)publish_errors.Get();
  level.Get().Set(0);
  scrape_pending.Get().Set(0);
}

EarlyWarning::EarlyWarning(NodeApi& api, const Clock& clock, EarlyWarningOptions options,
                           EarlyWarningMetrics* metrics)
    : api_(api),
      clock_(clock),
      options_(std::move(options)),
      metrics_(metrics),
      thresholds_(options_.thresholds),
      level_since_(clock.Now()),
      log_gate_(options_.log_every) {}

void EarlyWarning::Restore(const std::string& annotation) {
  std::lock_guard lock(mu_);
  auto decoded = early::DecodeEarlyWarning(annotation);
  if (!decoded.ok()) {
    Log().Warn("ignoring the node's early-warning annotation",
               {{"node", options_.node_name}, {"error", decoded.error().ToString()}});
    return;
  }
  state_.level = decoded->level;
  state_.calm_since.reset();
  level_since_ = decoded->since;
  published_ = decoded->published;
  if (metrics_) metrics_->level.Get().Set(LevelValue(state_.level));
  Log().Info("resuming from the published early-warning level",
             {{"node", options_.node_name}, {"level", early::LevelName(state_.level)}});
}

void EarlyWarning::UseThresholds(const std::string* annotation) {
  const early::ChosenThresholds chosen = early::ChooseThresholds(annotation, options_.thresholds);
  std::lock_guard lock(mu_);
  if (!chosen.error.empty() && (annotation == nullptr || *annotation != thresholds_error_)) {
    thresholds_error_ = annotation != nullptr ? *annotation : std::string();
    Log().Warn("ignoring the node's early-warning thresholds annotation; the flags decide",
               {{"node", options_.node_name},
                {"annotation", early::kThresholdsAnnotation},
                {"error", chosen.error}});
  }
  if (chosen.error.empty()) thresholds_error_.clear();
  if (chosen.thresholds == thresholds_ && chosen.source == thresholds_source_) return;
  thresholds_ = chosen.thresholds;
  thresholds_source_ = chosen.source;
  const early::Thresholds& t = thresholds_;
  Log().Info("early-warning thresholds in use",
             {{"node", options_.node_name},
              {"source", thresholds_source_},
              {"degradedRelistP99", FormatGoDuration(t.degraded_relist_p99)},
              {"calmRelistP99", FormatGoDuration(t.calm_relist_p99)},
              {"criticalLastRelistAge", FormatGoDuration(t.critical_last_seen)},
              {"calmLastRelistAge", FormatGoDuration(t.calm_last_seen)},
              {"hold", FormatGoDuration(t.hold)}});
}

std::pair<early::Thresholds, std::string> EarlyWarning::thresholds() const {
  std::lock_guard lock(mu_);
  return {thresholds_, thresholds_source_};
}

void EarlyWarning::ScrapeStarted() {
  std::lock_guard lock(mu_);
  pending_since_ = clock_.Monotonic();
}

void EarlyWarning::ScrapeFinished(ScrapeResult result) {
  std::lock_guard lock(mu_);
  pending_since_.reset();
  if (metrics_) metrics_->scrape_pending.Get().Set(0);
  if (result.failure == ScrapeFailure::kCancelled) return;
  if (metrics_) metrics_->scrape_duration.Get().Observe(result.seconds);
  const WallTime now = clock_.Now();
  if (result.failure != ScrapeFailure::kNone) {
    const char* reason = early::ScrapeFailureName(result.failure);
    if (metrics_) metrics_->scrape_failures.WithLabels({reason}).Inc();
    if (auto suppressed = log_gate_.Admit(reason, clock_.Monotonic())) {
      Log().Warn("cannot read the kubelet's metrics; the early-warning level is kept",
                 {{"node", options_.node_name},
                  {"reason", reason},
                  {"error", result.detail},
                  {"seconds", result.seconds},
                  {"notLoggedSinceLast", static_cast<int64_t>(*suppressed)}});
    }
    return;
  }
  // The baseline: the newest kept scrape at least a window old.
  std::deque<WallTime> times;
  for (const auto& [t, e] : kept_) times.push_back(t);
  const auto baseline = early::PickBaseline(times, now, options_.window);
  const early::Exposition* previous = nullptr;
  WallTime previous_time{};
  if (baseline) {
    kept_.erase(kept_.begin(), kept_.begin() + static_cast<std::ptrdiff_t>(*baseline));
    previous = &kept_.front().second;
    previous_time = kept_.front().first;
  }
  early::PlegFigures figures =
      early::ComputePlegFigures(previous, previous_time, *result.exposition, now);
  kept_.emplace_back(now, std::move(*result.exposition));
  // Missing series are usually a property of the node (no container running:
  // no kubelet_running_containers), so they are logged when they change.
  std::string problems;
  for (const auto& p : figures.problems) problems += (problems.empty() ? "" : "; ") + p;
  if (problems != logged_problems_) {
    if (problems.empty()) {
      Log().Info("every kubelet PLEG figure is readable again", {{"node", options_.node_name}});
    } else {
      Log().Info("some kubelet PLEG figures are missing or unreadable; those figures are unknown",
                 {{"node", options_.node_name}, {"problems", problems}});
    }
    logged_problems_ = std::move(problems);
  }
  DecideAndPublish(figures, now);
}

void EarlyWarning::Tick() {
  std::lock_guard lock(mu_);
  if (!pending_since_) return;
  const Duration pending = clock_.Monotonic() - *pending_since_;
  if (metrics_) {
    metrics_->scrape_pending.Get().Set(std::chrono::duration<double>(pending).count());
  }
  auto figures = early::PendingScrapeFigures(pending, thresholds_);
  if (!figures) return;
  DecideAndPublish(*figures, clock_.Now());
}

void EarlyWarning::DecideAndPublish(const early::PlegFigures& figures, WallTime now) {
  early::LevelDecision d = early::DecideLevel(state_, figures, thresholds_, now);
  if (d.changed) {
    Log().Info("early-warning level changed", {{"node", options_.node_name},
                                               {"from", early::LevelName(state_.level)},
                                               {"to", early::LevelName(d.state.level)},
                                               {"reason", early::LevelReasonName(d.reason)},
                                               {"figures", d.explanation}});
    level_since_ = now;
  }
  state_ = d.state;
  if (metrics_) metrics_->level.Get().Set(LevelValue(state_.level));
  // Unreadable figures are reported (the failure above), not published.
  if (d.reason == early::LevelReason::kNoData) return;
  const early::PublishReason why = early::ShouldPublish(published_, state_.level, figures, now,
                                                        options_.min_publish_interval, thresholds_);
  if (why == early::PublishReason::kNone) return;
  early::EarlyWarningRecord record;
  record.level = state_.level;
  record.since = level_since_;
  record.observed_at = now;
  record.reason = d.reason;
  record.figures = figures;
  auto written = api_.SetAnnotation(options_.node_name, early::kEarlyWarningAnnotation,
                                    early::EncodeEarlyWarning(record), "");
  if (!written.ok()) {
    if (metrics_) metrics_->publish_errors.Get().Inc();
    if (auto suppressed = log_gate_.Admit("Write", clock_.Monotonic())) {
      Log().Warn("early-warning write failed; retried on the next decision",
                 {{"node", options_.node_name},
                  {"level", early::LevelName(state_.level)},
                  {"error", written.error().ToString()},
                  {"notLoggedSinceLast", static_cast<int64_t>(*suppressed)}});
    }
    return;
  }
  if (metrics_) metrics_->publishes.WithLabels({early::PublishReasonName(why)}).Inc();
  published_.level = state_.level;
  published_.at = now;
  published_.relist_p99_seconds = figures.relist_p99_seconds;
  published_.last_seen_age_seconds = figures.last_seen_age_seconds;
}

early::Level EarlyWarning::level() const {
  std::lock_guard lock(mu_);
  return state_.level;
}

std::optional<early::Published> EarlyWarning::published() const {
  std::lock_guard lock(mu_);
  if (!published_.level) return std::nullopt;
  return published_;
}

}  // namespace nodeguard::agent
