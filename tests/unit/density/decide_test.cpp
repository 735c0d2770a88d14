#include "density/decide.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nodeguard::density {
namespace {

using ::testing::HasSubstr;

const kube::Taint kDesired = [] {
  api::PodDensitySpec spec;
  return DesiredTaint(spec, "dense");
}();

DensityInputs Inputs(int64_t pods, bool tainted, std::optional<DensityCap> cap) {
  DensityInputs in;
  in.node = "worker-1";
  in.policy = "dense";
  in.cap = cap;
  in.pods = pods;
  in.taint.present = tainted;
  in.taint.matches_desired = tainted;
  return in;
}

constexpr DensityCap kCap10{10, 10, 9, CapBound::kMaxPods};      // 90% of 10.
constexpr DensityCap kCap10Wide{10, 10, 7, CapBound::kMaxPods};  // releaseBelow 7.

TEST(DesiredTaint, KeyEffectFromSpecValueDefaultsToPolicyName) {
  api::PodDensitySpec spec;
  EXPECT_EQ(DesiredTaint(spec, "dense").key, "nodeguard.io/pod-density-exceeded");
  EXPECT_EQ(DesiredTaint(spec, "dense").value, "dense");
  EXPECT_EQ(DesiredTaint(spec, "dense").effect, kube::TaintEffect::kNoSchedule);
  spec.taint.value = "full";
  spec.taint.effect = kube::TaintEffect::kPreferNoSchedule;
  EXPECT_EQ(DesiredTaint(spec, "dense").value, "full");
  EXPECT_EQ(DesiredTaint(spec, "dense").effect, kube::TaintEffect::kPreferNoSchedule);
}

struct DecideCase {
  const char* name;
  DensityInputs in;
  TaintAction action;
  DecisionReason reason;
  bool capped;
};

DensityInputs With(DensityInputs in, Governance g) {
  in.governance = g;
  return in;
}

// A taint nodeguard did not apply holds the desired key and effect.
DensityInputs Foreign(DensityInputs in) {
  in.taint.foreign_holds_desired = true;
  return in;
}

// nodeguard's recorded taint is on the node but is not the desired one (the
// policy's key, value or effect changed; another policy recorded it; or it
// was adopted from an older nodeguard and is not recorded yet).
DensityInputs Outdated(DensityInputs in) {
  in.taint.matches_desired = false;
  return in;
}

// One case or more per row of the table in decide.h, in its order.
TEST(DecideTaint, Table) {
  const DecideCase cases[] = {
      // governance kRelease* -> kRemove if t, else kNone
      {"policy deleted: remove", With(Inputs(50, true, kCap10), Governance::kReleaseDeleted),
       TaintAction::kRemove, DecisionReason::kReleasedByPolicy, false},
      {"no longer governs the node: remove",
       With(Inputs(50, true, kCap10), Governance::kReleaseUnselected), TaintAction::kRemove,
       DecisionReason::kReleasedByPolicy, false},
      {"podDensity disabled: remove", With(Inputs(50, true, kCap10), Governance::kReleaseDisabled),
       TaintAction::kRemove, DecisionReason::kReleasedByPolicy, false},
      {"paused with release: remove", With(Inputs(50, true, kCap10), Governance::kReleasePaused),
       TaintAction::kRemove, DecisionReason::kReleasedByPolicy, false},
      {"released policy never adds", With(Inputs(50, false, kCap10), Governance::kReleaseDeleted),
       TaintAction::kNone, DecisionReason::kReleasedByPolicy, false},
      {"released policy with only a foreign taint: nothing",
       Foreign(With(Inputs(50, false, kCap10), Governance::kReleaseUnselected)), TaintAction::kNone,
       DecisionReason::kReleasedByPolicy, false},
      // governance kHold -> kNone (capped = t)
      {"paused keeps a taint", With(Inputs(0, true, kCap10), Governance::kHold), TaintAction::kNone,
       DecisionReason::kHeld, true},
      {"paused adds none", With(Inputs(50, false, kCap10), Governance::kHold), TaintAction::kNone,
       DecisionReason::kHeld, false},
      {"paused rewrites none", Outdated(With(Inputs(50, true, kCap10), Governance::kHold)),
       TaintAction::kNone, DecisionReason::kHeld, true},
      // no cap -> kRemove if t, else kNone
      {"no cap: remove a taint", Inputs(50, true, std::nullopt), TaintAction::kRemove,
       DecisionReason::kNoCap, false},
      {"no cap, untainted: nothing", Inputs(50, false, std::nullopt), TaintAction::kNone,
       DecisionReason::kNoCap, false},
      // !t and count >= taint_at and f -> kNone (kForeignTaint)
      {"at the cap, a foreign taint holds the key and effect: nothing",
       Foreign(Inputs(10, false, kCap10)), TaintAction::kNone, DecisionReason::kForeignTaint,
       false},
      // !t and count >= taint_at -> kAdd
      {"at the cap: taint", Inputs(10, false, kCap10), TaintAction::kAdd,
       DecisionReason::kCapReached, true},
      {"above the cap: taint", Inputs(14, false, kCap10), TaintAction::kAdd,
       DecisionReason::kCapReached, true},
      // !t and count < taint_at -> kNone
      {"below the cap, untainted", Inputs(9, false, kCap10), TaintAction::kNone,
       DecisionReason::kBelowTaintMark, false},
      {"untainted between marks: nothing", Inputs(8, false, kCap10Wide), TaintAction::kNone,
       DecisionReason::kBelowTaintMark, false},
      {"below the cap with a foreign taint: nothing", Foreign(Inputs(3, false, kCap10)),
       TaintAction::kNone, DecisionReason::kBelowTaintMark, false},
      // t and count < release_below -> kRemove
      {"tainted below the release mark: remove", Inputs(6, true, kCap10Wide), TaintAction::kRemove,
       DecisionReason::kBelowReleaseMark, false},
      {"outdated taint below release is removed, not rewritten", Outdated(Inputs(3, true, kCap10)),
       TaintAction::kRemove, DecisionReason::kBelowReleaseMark, false},
      // t otherwise, m -> kNone (capped)
      {"tainted at the cap: keep", Inputs(10, true, kCap10), TaintAction::kNone,
       DecisionReason::kCapReached, true},
      {"tainted between marks: keep", Inputs(8, true, kCap10Wide), TaintAction::kNone,
       DecisionReason::kWithinHysteresis, true},
      {"tainted at the release mark: keep", Inputs(7, true, kCap10Wide), TaintAction::kNone,
       DecisionReason::kWithinHysteresis, true},
      // t otherwise, !m and f -> kRemove (kForeignTaint)
      {"key changed to one a foreign taint holds: remove ours, add none",
       Foreign(Outdated(Inputs(10, true, kCap10))), TaintAction::kRemove,
       DecisionReason::kForeignTaint, false},
      // t otherwise, !m -> kUpdate (capped)
      {"taint with an old key/value/effect is rewritten", Outdated(Inputs(10, true, kCap10)),
       TaintAction::kUpdate, DecisionReason::kCapReached, true},
      {"outdated taint between marks is rewritten", Outdated(Inputs(8, true, kCap10Wide)),
       TaintAction::kUpdate, DecisionReason::kWithinHysteresis, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const DensityDecision d = DecideTaint(c.in, kDesired);
    EXPECT_EQ(d.action, c.action) << TaintActionName(d.action);
    EXPECT_EQ(d.reason, c.reason) << DecisionReasonName(d.reason);
    EXPECT_EQ(d.capped, c.capped);
    EXPECT_EQ(d.execute, c.action != TaintAction::kNone);
    EXPECT_EQ(d.status_entry.has_value(), c.capped);
    EXPECT_EQ(d.metrics.capped, c.capped);
    EXPECT_EQ(d.event.has_value(),
              c.action == TaintAction::kAdd || c.action == TaintAction::kRemove);
  }
}

// Runs counts through DecideTaint, feeding each decision's outcome back as the
// node's taint, and returns the actions taken ("+" add, "-" remove, "." none).
std::string Sequence(const DensityCap& cap, const std::vector<int64_t>& counts,
                     bool dry_run = false) {
  std::string out;
  bool tainted = false;
  for (int64_t n : counts) {
    DensityInputs in = Inputs(n, tainted, cap);
    in.dry_run = dry_run;
    const DensityDecision d = DecideTaint(in, kDesired);
    out += d.action == TaintAction::kAdd ? '+' : d.action == TaintAction::kRemove ? '-' : '.';
    tainted = d.capped;
  }
  return out;
}

TEST(DecideTaint, HysteresisRisingThenFalling) {
  // cap 10, release below 7.
  EXPECT_EQ(Sequence(kCap10Wide, {5, 8, 9, 10, 12, 11, 9, 8, 7, 6, 5, 9, 10}), "...+.....-..+");
}

TEST(DecideTaint, FlappingAtTheEdgeDoesNotFlapTheTaint) {
  EXPECT_EQ(Sequence(kCap10, {10, 9, 10, 9, 10, 9, 10, 9}), "+.......");
  // Only a fall below releaseBelow (9) releases.
  EXPECT_EQ(Sequence(kCap10, {10, 9, 8, 9, 10}), "+.-.+");
}

TEST(DecideTaint, TaintAheadTaintsBeforeTheCap) {
  const DensityCap ahead{10, 8, 7, CapBound::kMaxPods};  // taintAhead 2, releaseBelow 7.
  EXPECT_EQ(Sequence(ahead, {6, 7, 8, 9, 10, 7, 6, 7, 8}), "..+...-.+");
}

TEST(DecideTaint, DryRunReportsButDoesNotExecute) {
  DensityInputs in = Inputs(12, false, kCap10);
  in.dry_run = true;
  DensityDecision d = DecideTaint(in, kDesired);
  EXPECT_EQ(d.action, TaintAction::kAdd);
  EXPECT_FALSE(d.execute);
  EXPECT_TRUE(d.capped);
  ASSERT_TRUE(d.event);
  EXPECT_THAT(d.event->message, HasSubstr("dryRun, would add taint"));
  ASSERT_TRUE(d.status_entry);
  EXPECT_EQ(d.status_entry->pods, 12);
  EXPECT_THAT(d.explanation, HasSubstr("dryRun"));

  in = Inputs(3, true, kCap10);  // The simulated taint from the previous dry-run decision.
  in.dry_run = true;
  d = DecideTaint(in, kDesired);
  EXPECT_EQ(d.action, TaintAction::kRemove);
  EXPECT_FALSE(d.execute);
  ASSERT_TRUE(d.event);
  EXPECT_THAT(d.event->message, HasSubstr("dryRun, would remove taint"));

  // The same hysteresis plays out in dry run.
  EXPECT_EQ(Sequence(kCap10Wide, {5, 10, 8, 6}, /*dry_run=*/true), ".+.-");
}

TEST(DecideTaint, EventTexts) {
  DensityDecision d =
      DecideTaint(Inputs(72, false, DensityCap{70, 70, 63, CapBound::kMaxPods}), kDesired);
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->type, "Warning");
  EXPECT_EQ(d.event->reason, "PodDensityCapReached");
  EXPECT_EQ(d.event->message,
            "Node worker-1 has 72 pods, reaching its cap of 70 (policy dense): added taint "
            "nodeguard.io/pod-density-exceeded=dense:NoSchedule so new pods go to other nodes");

  d = DecideTaint(Inputs(68, false, DensityCap{70, 68, 63, CapBound::kMaxPods}), kDesired);
  ASSERT_TRUE(d.event);
  EXPECT_THAT(d.event->message,
              HasSubstr("has 68 pods, reaching the taint mark of 68 below its cap of 70"));

  d = DecideTaint(Inputs(62, true, DensityCap{70, 70, 63, CapBound::kMaxPods}), kDesired);
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->type, "Normal");
  EXPECT_EQ(d.event->reason, "PodDensityCapReleased");
  EXPECT_EQ(d.event->message,
            "Node worker-1 has 62 pods, below the release mark of 63 (cap 70, policy dense): "
            "removed taint nodeguard.io/pod-density-exceeded");

  d = DecideTaint(With(Inputs(80, true, kCap10), Governance::kReleaseDeleted), kDesired);
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->reason, "PodDensityCapReleased");
  EXPECT_THAT(d.event->message,
              HasSubstr("policy dense is being deleted (or gone) and no longer governs this node: "
                        "removed taint"));

  d = DecideTaint(With(Inputs(80, true, kCap10), Governance::kReleaseUnselected), kDesired);
  ASSERT_TRUE(d.event);
  EXPECT_THAT(d.event->message, HasSubstr("policy dense no longer governs this node: removed"));
}

// After a key change the Event names the taint removed, not the desired one.
TEST(DecideTaint, ReleasedEventNamesTheTaintOnTheNode) {
  DensityInputs in = Outdated(Inputs(2, true, kCap10));
  in.current.key = "example.com/old-key";
  DensityDecision d = DecideTaint(in, kDesired);
  ASSERT_TRUE(d.event);
  EXPECT_THAT(d.event->message, HasSubstr(": removed taint example.com/old-key"));

  in = Foreign(Outdated(Inputs(10, true, kCap10)));
  in.current.key = "example.com/old-key";
  d = DecideTaint(in, kDesired);
  ASSERT_TRUE(d.event);
  EXPECT_THAT(d.event->message,
              HasSubstr("carries a taint nodeguard.io/pod-density-exceeded=dense:NoSchedule that "
                        "nodeguard did not apply"));
  EXPECT_THAT(d.event->message, HasSubstr(": removed taint example.com/old-key"));
}

// A deleted policy's real taint is removed even in dry run (its finalizer
// waits for it); every other dry-run decision is only reported.
TEST(DecideTaint, DryRunUndoesOnlyADeletedPolicysTaint) {
  DensityInputs in = With(Inputs(50, true, kCap10), Governance::kReleaseDeleted);
  in.dry_run = true;
  DensityDecision d = DecideTaint(in, kDesired);
  EXPECT_EQ(d.action, TaintAction::kRemove);
  EXPECT_TRUE(d.execute);
  ASSERT_TRUE(d.event);
  EXPECT_THAT(d.event->message, HasSubstr(": removed taint"));

  for (Governance g : {Governance::kReleaseUnselected, Governance::kReleaseDisabled,
                       Governance::kReleasePaused, Governance::kEnforce}) {
    in = With(Inputs(1, true, kCap10), g);
    in.dry_run = true;
    d = DecideTaint(in, kDesired);
    EXPECT_EQ(d.action, TaintAction::kRemove);
    EXPECT_FALSE(d.execute) << static_cast<int>(g);
  }
}

TEST(DecideTaint, StatusAndMetrics) {
  DensityDecision d = DecideTaint(Inputs(11, false, kCap10), kDesired);
  ASSERT_TRUE(d.status_entry);
  EXPECT_EQ(d.status_entry->node, "worker-1");
  EXPECT_EQ(d.status_entry->pods, 11);
  EXPECT_EQ(d.status_entry->cap, 10);
  EXPECT_EQ(d.metrics, (NodeDensityMetrics{"worker-1", 11, 10, true}));

  d = DecideTaint(Inputs(4, false, std::nullopt), kDesired);
  EXPECT_FALSE(d.status_entry);
  EXPECT_EQ(d.metrics, (NodeDensityMetrics{"worker-1", 4, std::nullopt, false}));
  EXPECT_THAT(d.explanation, HasSubstr("cap=none"));
}

// ---------------------------------------------------------------- overflow eviction
// One test per row of the second table in decide.h, in its order. The
// replay's incident numbers: cap 70, taint at 68, release below 63.

constexpr DensityCap kCap70{70, 68, 63, CapBound::kMaxPods};

// `pods` counted, `not_terminating` of them not terminating, evictOverflow on.
DensityInputs Overflowing(int64_t pods, int64_t not_terminating, bool tainted = true) {
  DensityInputs in = Inputs(pods, tainted, kCap70);
  in.pods_not_terminating = not_terminating;
  in.evict_overflow = true;
  return in;
}

// governance != kEnforce -> overflow 0 (paused, held, released)
TEST(DecideOverflow, OnlyAnEnforcedPolicyEvicts) {
  for (Governance g :
       {Governance::kHold, Governance::kReleaseDeleted, Governance::kReleaseUnselected,
        Governance::kReleaseDisabled, Governance::kReleasePaused}) {
    const DensityDecision d = DecideTaint(With(Overflowing(110, 110), g), kDesired);
    EXPECT_EQ(d.overflow, 0) << static_cast<int>(g);
    EXPECT_FALSE(d.evict) << static_cast<int>(g);
  }
}

// no cap -> overflow 0
TEST(DecideOverflow, NoCapNoOverflow) {
  DensityInputs in = Overflowing(110, 110);
  in.cap = std::nullopt;
  const DensityDecision d = DecideTaint(in, kDesired);
  EXPECT_EQ(d.overflow, 0);
  EXPECT_FALSE(d.evict);
}

// !in.evict_overflow -> overflow 0 (the default)
TEST(DecideOverflow, OffByDefault) {
  DensityInputs in = Overflowing(110, 110);
  in.evict_overflow = false;
  const DensityDecision d = DecideTaint(in, kDesired);
  EXPECT_EQ(d.overflow, 0);
  EXPECT_FALSE(d.evict);
  EXPECT_EQ(d.action, TaintAction::kNone);  // Tainted and above the mark: stays.
  EXPECT_TRUE(d.capped);
}

// n <= cap -> overflow 0: at the cap, between the mark and the cap, and above
// the cap only while counting the pods already terminating.
TEST(DecideOverflow, NothingAtOrBelowTheCap) {
  for (auto [pods, live] :
       {std::pair<int64_t, int64_t>{70, 70}, {69, 69}, {68, 68}, {10, 10}, {110, 70}, {110, 40}}) {
    const DensityDecision d = DecideTaint(Overflowing(pods, live), kDesired);
    EXPECT_EQ(d.overflow, 0) << pods << " pods, " << live << " not terminating";
    EXPECT_FALSE(d.evict);
  }
  // Terminating pods still count for the taint: the node stays capped.
  const DensityDecision d = DecideTaint(Overflowing(110, 70), kDesired);
  EXPECT_TRUE(d.capped);
}

// n > cap, dry run -> overflow n - cap, evict false (reported only)
TEST(DecideOverflow, DryRunReportsTheCountAndEvictsNothing) {
  DensityInputs in = Overflowing(110, 109, /*tainted=*/false);
  in.dry_run = true;
  const DensityDecision d = DecideTaint(in, kDesired);
  EXPECT_EQ(d.overflow, 39);
  EXPECT_FALSE(d.evict);
  EXPECT_EQ(d.action, TaintAction::kAdd);  // The taint decision is unchanged...
  EXPECT_FALSE(d.execute);                 // ...and not executed either.
  EXPECT_THAT(d.explanation, HasSubstr("overflow=39"));
}

// n > cap -> overflow n - cap, evict true; the taint decision is unchanged.
TEST(DecideOverflow, EvictsTheCountAboveTheCapNotTheMark) {
  DensityDecision d = DecideTaint(Overflowing(110, 109), kDesired);
  EXPECT_EQ(d.overflow, 39);  // 109 - 70, not 109 - 68.
  EXPECT_TRUE(d.evict);
  EXPECT_EQ(d.action, TaintAction::kNone);
  EXPECT_EQ(d.reason, DecisionReason::kCapReached);
  EXPECT_TRUE(d.capped);
  EXPECT_THAT(d.explanation, HasSubstr("overflow=39"));

  d = DecideTaint(Overflowing(71, 71, /*tainted=*/false), kDesired);
  EXPECT_EQ(d.overflow, 1);
  EXPECT_TRUE(d.evict);
  EXPECT_EQ(d.action, TaintAction::kAdd);  // Tainted as without evictOverflow.
  EXPECT_TRUE(d.execute);
}

// The adaptive cap (cap.h, rows A1-A5) reaches DecideTaint as the cap and its
// marks: the taint rows use the lowered cap, overflow eviction the policy's.
DensityCap Lowered(int64_t cap, int64_t taint_at, int64_t release_below, int64_t policy_cap) {
  DensityCap c{cap, taint_at, release_below, CapBound::kMaxPods};
  c.policy_cap = policy_cap;
  c.adaptation = CapAdaptation::kLowered;
  return c;
}

TEST(DecideTaint, ALoweredCapTaintsAtItsOwnMarkAndSaysSo) {
  const DensityCap lowered = Lowered(56, 56, 50, 70);
  DensityDecision d = DecideTaint(Inputs(60, false, lowered), kDesired);
  EXPECT_EQ(d.action, TaintAction::kAdd);
  EXPECT_EQ(d.reason, DecisionReason::kCapReached);
  ASSERT_TRUE(d.event);
  EXPECT_THAT(d.event->message,
              HasSubstr("has 60 pods, reaching its cap of 56 (lowered from 70 while the node's "
                        "early-warning level is Degraded or Critical)"));
  EXPECT_THAT(d.explanation, HasSubstr("cap=56 (maxPods) policyCap=70 earlyWarning=lowered"));
  ASSERT_TRUE(d.status_entry);
  EXPECT_EQ(d.status_entry->cap, 56);  // Status reports the effective cap.
  EXPECT_EQ(d.metrics.cap, 56);
  // Restored (the policy cap again): 60 is below its release mark 63.
  d = DecideTaint(Inputs(60, true, DensityCap{70, 70, 63, CapBound::kMaxPods}), kDesired);
  EXPECT_EQ(d.action, TaintAction::kRemove);
  EXPECT_EQ(d.reason, DecisionReason::kBelowReleaseMark);
}

TEST(DecideOverflow, ALoweredCapEvictsNothingBelowThePolicyCap) {
  DensityInputs in = Overflowing(65, 65);
  in.cap = Lowered(56, 56, 50, 70);
  DensityDecision d = DecideTaint(in, kDesired);
  EXPECT_EQ(d.overflow, 0);
  EXPECT_TRUE(d.capped);  // Still tainted at the lowered cap.
  in = Overflowing(75, 75);
  in.cap = Lowered(56, 56, 50, 70);
  d = DecideTaint(in, kDesired);
  EXPECT_EQ(d.overflow, 5);  // 75 - 70.
  EXPECT_THAT(OverflowEvent(in, 5, {}).message, HasSubstr("5 above its cap of 70"));
}

TEST(OverflowEvent, SaysCountCapAndPods) {
  DensityInputs in = Overflowing(110, 109);
  OverflowOutcome o;
  for (int i = 0; i < 12; ++i) o.evicted.push_back("ci/web-" + std::to_string(i));
  o.refused = {"ci/db-0 (PodDisruptionBudget db)"};
  o.movable = 100;
  EventText e = OverflowEvent(in, 39, o);
  EXPECT_EQ(e.type, "Warning");
  EXPECT_EQ(e.reason, "PodDensityOverflowEvicted");
  EXPECT_THAT(e.message,
              HasSubstr("Node worker-1 has 109 pods not terminating, 39 above its cap "
                        "of 70 (policy dense): evicted 12 pods, newest first: ci/web-0, "));
  EXPECT_THAT(e.message, HasSubstr("ci/web-9 and 2 more"));
  EXPECT_THAT(e.message, HasSubstr("retried later: ci/db-0 (PodDisruptionBudget db)"));

  in.dry_run = true;
  e = OverflowEvent(in, 2, OverflowOutcome{{"ci/a", "ci/b"}, {}, {}, 5});
  EXPECT_THAT(e.message, HasSubstr("dryRun, would evict 2 pods, newest first: ci/a, ci/b"));

  in.dry_run = false;
  e = OverflowEvent(in, 3, OverflowOutcome{{"ci/a"}, {}, {}, 1});
  EXPECT_THAT(e.message, HasSubstr("only 1 pods on the node can be moved"));
}

}  // namespace
}  // namespace nodeguard::density
