#pragma once

// The node annotation nodeguard.io/early-warning: the agent's published
// level, written by the agent on its own Node (only when ShouldPublish says
// so), read by the controller (later milestone) and by a restarted agent,
// which resumes from the level it last published.
//
//   {"level":"Critical","since":"2026-12-07T14:02:11Z",
//    "observedAt":"2026-12-07T14:02:41Z","reason":"LastSeenOverCritical",
//    "figures":{"windowSeconds":60.0,"relists":0,"lastRelistAgeSeconds":41.2,
//               "scrapePendingSeconds":41.2,...}}
//
// Figures that are unknown are left out; seconds are rounded to the
// millisecond. A few hundred bytes.

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "early/figures.h"
#include "early/level.h"

namespace nodeguard::early {

inline constexpr const char* kEarlyWarningAnnotation = "nodeguard.io/early-warning";

struct EarlyWarningRecord {
  Level level = Level::kHealthy;
  WallTime since;        // When the node entered this level (as the agent saw it).
  WallTime observed_at;  // When the figures were taken.
  LevelReason reason = LevelReason::kBelowMarks;
  PlegFigures figures;
};

std::string EncodeEarlyWarning(const EarlyWarningRecord& record);

// What a restarted agent needs back: the level and since, and the Published
// record ShouldPublish compares with. kInvalid on anything malformed.
struct DecodedEarlyWarning {
  Level level = Level::kHealthy;
  WallTime since;
  Published published;
};
Result<DecodedEarlyWarning> DecodeEarlyWarning(std::string_view json);

std::optional<Level> ParseLevel(std::string_view name);

}  // namespace nodeguard::early
