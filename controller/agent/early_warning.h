#pragma once

// The agent's early-warning loop (issue 19), --early-warning: each scrape of
// the kubelet (agent/kubelet_scrape.h) gives PLEG figures over the window
// (early/figures.h, baseline by early::PickBaseline), DecideLevel turns them
// into the node's level, and ShouldPublish decides when the level is written
// to the agent's own Node (annotation nodeguard.io/early-warning,
// early/annotation.h) through the same NodeApi as the agent's status.
//
// A scrape the kubelet does not answer is itself a figure: Tick(), called
// about every second, decides on early::PendingScrapeFigures while one is
// pending. Failed scrapes are counted by kind and logged rate-limited; they
// keep the level (DecideLevel's kNoData row) and write nothing.
//
// Thread-safe: the scrape thread calls ScrapeStarted/ScrapeFinished, another
// thread Tick.

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "agent/kubelet_scrape.h"
#include "agent/node_api.h"
#include "common/clock.h"
#include "early/annotation.h"
#include "early/level.h"
#include "early/scrape.h"
#include "early/thresholds_annotation.h"
#include "observe/metrics.h"

namespace nodeguard::agent {

struct EarlyWarningOptions {
  std::string node_name;
  early::Thresholds thresholds;
  // The figures cover at least this much time (two scrapes this far apart).
  Duration window = std::chrono::seconds(60);
  // Within a level, a write at most this often, and only when figures moved.
  Duration min_publish_interval = std::chrono::minutes(1);
  Duration log_every = std::chrono::minutes(1);  // Per failure kind.
};

struct EarlyWarningMetrics {
  explicit EarlyWarningMetrics(observe::MetricsRegistry& registry);

  observe::CounterFamily& scrape_failures;    // {reason}
  observe::HistogramFamily& scrape_duration;  // Completed scrapes, failed or not.
  observe::GaugeFamily& level;                // 0 Healthy, 1 Degraded, 2 Critical.
  observe::GaugeFamily& scrape_pending;       // Seconds the current scrape is pending, else 0.
  observe::CounterFamily& publishes;          // {reason}: ShouldPublish's.
  observe::CounterFamily& publish_errors;
};

class EarlyWarning {
 public:
  // REQUIRES: api, clock (and metrics when given) outlive this object.
  EarlyWarning(NodeApi& api, const Clock& clock, EarlyWarningOptions options,
               EarlyWarningMetrics* metrics = nullptr);

  // Resumes from the level the agent last published (the Node's annotation),
  // so a restarted agent neither rewrites nor forgets it. A malformed value
  // is logged and ignored.
  void Restore(const std::string& annotation);

  // The marks to decide with, from the node's
  // nodeguard.io/early-warning-thresholds annotation (written by the
  // controller from the governing policy's spec.earlyWarning;
  // early/thresholds_annotation.h), or nullptr when the node has none: then
  // options.thresholds (the flags). An unreadable annotation is logged (once
  // per distinct value) and the flags decide. Called on every Node update;
  // logs only when the marks in use change.
  void UseThresholds(const std::string* annotation);
  // The marks in use and where they come from ("flags" or "policy <name>").
  std::pair<early::Thresholds, std::string> thresholds() const;

  void ScrapeStarted();
  void ScrapeFinished(ScrapeResult result);
  // Decides on the pending scrape, if one is pending long enough.
  void Tick();

  early::Level level() const;
  std::optional<early::Published> published() const;

 private:
  // Decides on `figures` taken at `now` and writes when ShouldPublish says so.
  void DecideAndPublish(const early::PlegFigures& figures, WallTime now);  // mu_ held.

  NodeApi& api_;
  const Clock& clock_;
  const EarlyWarningOptions options_;
  EarlyWarningMetrics* metrics_;

  mutable std::mutex mu_;
  early::Thresholds thresholds_;             // Guarded by mu_.
  std::string thresholds_source_ = "flags";  // Guarded by mu_.
  std::string thresholds_error_;  // The unreadable annotation last logged. Guarded by mu_.
  early::LevelState state_;       // Guarded by mu_.
  WallTime level_since_;          // Guarded by mu_.
  early::Published published_;    // Guarded by mu_.
  std::deque<std::pair<WallTime, early::Exposition>> kept_;  // Guarded by mu_.
  std::optional<MonoTime> pending_since_;                    // Guarded by mu_.
  early::LogGate log_gate_;                                  // Guarded by mu_.
  std::string logged_problems_;  // The figures' problems last logged. Guarded by mu_.
};

}  // namespace nodeguard::agent
