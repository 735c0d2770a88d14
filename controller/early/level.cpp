#include "early/level.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace nodeguard::early {
namespace {

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

std::string Figure(const std::optional<double>& v) {
  if (!v) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3gs", *v);
  return buf;
}

std::string Explain(const PlegFigures& f, const Thresholds& t) {
  std::string s = "relist p99 " + Figure(f.relist_p99_seconds);
  if (f.relist_p99_above_top) s += "+";
  s += " (degraded above " + Figure(Seconds(t.degraded_relist_p99)) + ", calm at most " +
       Figure(Seconds(t.calm_relist_p99)) + "), last relist " + Figure(f.last_seen_age_seconds) +
       " ago (critical above " + Figure(Seconds(t.critical_last_seen)) + ", calm at most " +
       Figure(Seconds(t.calm_last_seen)) + ")";
  if (f.scrape_pending_seconds) {
    s += "; the kubelet has not answered /metrics for " + Figure(f.scrape_pending_seconds) +
         " (read as the last relist's age)";
  }
  return s;
}

}  // namespace

const char* LevelName(Level l) {
  switch (l) {
    case Level::kHealthy:
      return "Healthy";
    case Level::kDegraded:
      return "Degraded";
    case Level::kCritical:
      return "Critical";
  }
  return "Healthy";
}

const char* LevelReasonName(LevelReason r) {
  switch (r) {
    case LevelReason::kNoData:
      return "NoData";
    case LevelReason::kLastSeenOverCritical:
      return "LastSeenOverCritical";
    case LevelReason::kWithinHysteresis:
      return "WithinHysteresis";
    case LevelReason::kRelistResumed:
      return "RelistResumed";
    case LevelReason::kRelistOverDegraded:
      return "RelistOverDegraded";
    case LevelReason::kBelowMarks:
      return "BelowMarks";
    case LevelReason::kHolding:
      return "Holding";
    case LevelReason::kRecovered:
      return "Recovered";
  }
  return "BelowMarks";
}

const char* PublishReasonName(PublishReason r) {
  switch (r) {
    case PublishReason::kNone:
      return "None";
    case PublishReason::kFirst:
      return "First";
    case PublishReason::kLevelChanged:
      return "LevelChanged";
    case PublishReason::kFiguresMoved:
      return "FiguresMoved";
  }
  return "None";
}

LevelDecision DecideLevel(const LevelState& state, const PlegFigures& figures,
                          const Thresholds& thresholds, WallTime now) {
  const std::optional<double>& age = figures.last_seen_age_seconds;
  const std::optional<double>& p99 = figures.relist_p99_seconds;
  bool readable = age.has_value() || p99.has_value();
  bool critical = age && *age > Seconds(thresholds.critical_last_seen);
  bool slow = p99 && *p99 > Seconds(thresholds.degraded_relist_p99);
  bool calm = readable && (!age || *age <= Seconds(thresholds.calm_last_seen)) &&
              (!p99 || *p99 <= Seconds(thresholds.calm_relist_p99));

  LevelDecision d;
  d.state = state;
  auto set = [&](Level level, LevelReason reason) {
    d.state.level = level;
    if (level != Level::kDegraded || reason != LevelReason::kHolding) d.state.calm_since.reset();
    d.reason = reason;
  };
  if (!readable) {
    set(state.level, LevelReason::kNoData);
  } else if (critical) {
    set(Level::kCritical, LevelReason::kLastSeenOverCritical);
  } else if (state.level == Level::kCritical) {
    if (age && *age > Seconds(thresholds.calm_last_seen)) {
      set(Level::kCritical, LevelReason::kWithinHysteresis);
    } else {
      set(Level::kDegraded, LevelReason::kRelistResumed);
    }
  } else if (slow) {
    set(Level::kDegraded, LevelReason::kRelistOverDegraded);
  } else if (state.level == Level::kHealthy) {
    set(Level::kHealthy, LevelReason::kBelowMarks);
  } else if (!calm) {
    set(Level::kDegraded, LevelReason::kWithinHysteresis);
  } else {
    WallTime since = state.calm_since.value_or(now);
    if (now - since >= thresholds.hold) {
      set(Level::kHealthy, LevelReason::kRecovered);
    } else {
      set(Level::kDegraded, LevelReason::kHolding);
      d.state.calm_since = since;
    }
  }
  d.changed = d.state.level != state.level;
  d.explanation = std::string(LevelName(d.state.level)) + " (" + LevelReasonName(d.reason) +
                  "): " + Explain(figures, thresholds);
  return d;
}

bool FiguresMoved(const Published& published, const PlegFigures& figures,
                  const Thresholds& thresholds) {
  const auto& a = published.relist_p99_seconds;
  const auto& b = figures.relist_p99_seconds;
  if (a.has_value() != b.has_value()) return true;
  const Duration quiet_mark = published.level == Level::kHealthy ? thresholds.degraded_relist_p99
                                                                 : thresholds.calm_relist_p99;
  const double quiet = std::chrono::duration<double>(quiet_mark).count();
  if (a && b && !(*a <= quiet && *b <= quiet)) {
    double diff = std::fabs(*a - *b);
    if (diff > 0.05 && diff > 0.2 * std::fabs(*a)) return true;
  }
  const auto& x = published.last_seen_age_seconds;
  const auto& y = figures.last_seen_age_seconds;
  if (x.has_value() != y.has_value()) return true;
  return x && y && std::fabs(*x - *y) > 5;
}

PublishReason ShouldPublish(const Published& published, Level level, const PlegFigures& figures,
                            WallTime now, Duration min_interval, const Thresholds& thresholds) {
  if (!published.level || !published.at) return PublishReason::kFirst;
  if (*published.level != level) return PublishReason::kLevelChanged;
  if (FiguresMoved(published, figures, thresholds) && now - *published.at >= min_interval) {
    return PublishReason::kFiguresMoved;
  }
  return PublishReason::kNone;
}

}  // namespace nodeguard::early
