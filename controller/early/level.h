#pragma once

// The early-warning level of a node (Healthy / Degraded / Critical) from its
// PLEG figures (figures.h), with hysteresis, and the rule for when the agent
// writes it. Pure: the caller keeps LevelState between scrapes (the agent in
// memory; a restarted agent starts from the level it last published).
//
// Marks (Thresholds, the defaults; the policy API will set them):
//   "critical":  last relist older than critical_last_seen (30 s)
//   "slow":      relist p99 over the window above degraded_relist_p99 (1 s)
//   "calm":      readable, the last relist no older than calm_last_seen
//                (10 s) and the relist p99 at most calm_relist_p99 (0.5 s);
//                an unknown figure does not count against calm
//   "readable":  last_seen_age or relist p99 is known
//
// The decision table (level = state.level, first matching row wins):
// clang-format off
//   row  when                                          -> level, calm clock          reason
//   1    not readable                                  -> level kept, clock cleared  kNoData
//   2    critical                                      -> Critical                   kLastSeenOverCritical
//   3    level Critical, age > calm_last_seen          -> Critical                   kWithinHysteresis
//   4    level Critical, otherwise                     -> Degraded                   kRelistResumed
//   5    slow                                          -> Degraded                   kRelistOverDegraded
//   6    level Healthy                                 -> Healthy                    kBelowMarks
//   7    level Degraded, not calm                      -> Degraded, clock cleared    kWithinHysteresis
//   8    level Degraded, calm for < hold               -> Degraded (clock started)   kHolding
//   9    level Degraded, calm for >= hold              -> Healthy                    kRecovered
// clang-format on
// So a worse level is entered at once; Critical steps down to Degraded once
// the relist runs again (the relist that hung is then observed at the top
// bucket, so p99 is "slow" for a window), and Degraded returns to Healthy
// only after the figures stay calm for `hold`.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/duration.h"
#include "early/figures.h"

namespace nodeguard::early {

enum class Level : uint8_t { kHealthy, kDegraded, kCritical };
const char* LevelName(Level l);

struct Thresholds {
  Duration degraded_relist_p99 = std::chrono::seconds(1);
  Duration critical_last_seen = std::chrono::seconds(30);
  Duration calm_relist_p99 = std::chrono::milliseconds(500);
  Duration calm_last_seen = std::chrono::seconds(10);
  Duration hold = std::chrono::minutes(2);
  friend bool operator==(const Thresholds&, const Thresholds&) = default;
};

enum class LevelReason : uint8_t {
  kNoData,
  kLastSeenOverCritical,
  kWithinHysteresis,
  kRelistResumed,
  kRelistOverDegraded,
  kBelowMarks,
  kHolding,
  kRecovered,
};
const char* LevelReasonName(LevelReason r);

struct LevelState {
  Level level = Level::kHealthy;
  // Since when the figures have been calm while Degraded (unset otherwise).
  std::optional<WallTime> calm_since;
  friend bool operator==(const LevelState&, const LevelState&) = default;
};

struct LevelDecision {
  LevelState state;  // The state to keep for the next scrape.
  LevelReason reason = LevelReason::kBelowMarks;
  bool changed = false;     // state.level differs from the input's.
  std::string explanation;  // One line for logs and Events: the figures and marks.
};

LevelDecision DecideLevel(const LevelState& state, const PlegFigures& figures,
                          const Thresholds& thresholds, WallTime now);

// What the agent last wrote for the node (unset fields: never written).
struct Published {
  std::optional<Level> level;
  std::optional<WallTime> at;
  std::optional<double> relist_p99_seconds;
  std::optional<double> last_seen_age_seconds;
};

enum class PublishReason : uint8_t {
  kNone,          // Nothing to write.
  kFirst,         // Never written.
  kLevelChanged,  // Written at once.
  kFiguresMoved,  // Same level, figures moved, and the last write is min_interval old.
};
const char* PublishReasonName(PublishReason r);

// Whether the figures moved enough to be worth a write within a level: the
// relist p99 appeared, disappeared, or moved by more than 20% of the
// published value and more than 50 ms, unless both values lie below the mark
// that could change the level (at or below degraded_relist_p99 while the
// published level is Healthy, at or below calm_relist_p99 otherwise): a
// healthy kubelet's occasional slow relist moves its p99 between 10 ms and
// most of a second, which says nothing a reader acts on, and at 1,000 nodes
// counting it cost 41 writes per node per hour with 1 % of relists at
// 0.1-0.9 s (docs/performance.md); the last-seen age moved by more than 5 s.
bool FiguresMoved(const Published& published, const PlegFigures& figures,
                  const Thresholds& thresholds = {});

// The write rule:
//   never written                                   -> kFirst
//   level != published.level                        -> kLevelChanged
//   FiguresMoved and now - published.at >= min_interval -> kFiguresMoved
//   otherwise                                       -> kNone
// So in steady state a node writes at most once per min_interval (1 min), and
// none at all while its figures stay put.
PublishReason ShouldPublish(const Published& published, Level level, const PlegFigures& figures,
                            WallTime now, Duration min_interval = std::chrono::minutes(1),
                            const Thresholds& thresholds = {});

}  // namespace nodeguard::early
