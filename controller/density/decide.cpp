#include "density/decide.h"

namespace nodeguard::density {

const char* TaintActionName(TaintAction a) {
  switch (a) {
    case TaintAction::kNone:
      return "None";
    case TaintAction::kAdd:
      return "Add";
    case TaintAction::kRemove:
      return "Remove";
    case TaintAction::kUpdate:
      return "Update";
  }
  return "None";
}

const char* DecisionReasonName(DecisionReason r) {
  switch (r) {
    case DecisionReason::kCapReached:
      return "CapReached";
    case DecisionReason::kBelowTaintMark:
      return "BelowTaintMark";
    case DecisionReason::kWithinHysteresis:
      return "WithinHysteresis";
    case DecisionReason::kBelowReleaseMark:
      return "BelowReleaseMark";
    case DecisionReason::kNoCap:
      return "NoCap";
    case DecisionReason::kReleasedByPolicy:
      return "ReleasedByPolicy";
    case DecisionReason::kHeld:
      return "Held";
    case DecisionReason::kForeignTaint:
      return "ForeignTaint";
  }
  return "";
}

namespace {

std::string TaintText(const kube::Taint& t) {
  std::string s = t.key;
  if (!t.value.empty()) s += "=" + t.value;
  s += ":";
  s += kube::TaintEffectName(t.effect);
  return s;
}

const char* GovernanceText(Governance g) {
  switch (g) {
    case Governance::kReleaseDeleted:
      return "is being deleted (or gone) and no longer governs this node";
    case Governance::kReleaseUnselected:
      return "no longer governs this node";
    case Governance::kReleaseDisabled:
      return "no longer enables podDensity";
    case Governance::kReleasePaused:
      return "is paused with release requested";
    case Governance::kEnforce:
    case Governance::kHold:
      break;
  }
  return "";
}

// "56 (lowered from 70 while the node's early-warning level is Degraded or
// Critical)": the cap as messages name it.
std::string CapText(const DensityCap& c) {
  std::string s = std::to_string(c.cap);
  if (c.adaptation == CapAdaptation::kLowered) {
    s += " (lowered from " + std::to_string(c.policy_cap) +
         " while the node's early-warning level is Degraded or Critical)";
  }
  return s;
}

// The cap overflow eviction compares with: the policy's, never a lowered one.
int64_t OverflowCap(const DensityCap& c) {
  return c.adaptation == CapAdaptation::kLowered ? c.policy_cap : c.cap;
}

std::string Numbers(const DensityInputs& in) {
  std::string s = "pods=" + std::to_string(in.pods);
  if (in.cap) {
    s += " cap=" + std::to_string(in.cap->cap) + " (" + CapBoundName(in.cap->bound) + ")";
    if (in.cap->adaptation != CapAdaptation::kNone) {
      s += " policyCap=" + std::to_string(in.cap->policy_cap) +
           " earlyWarning=" + CapAdaptationName(in.cap->adaptation);
    }
    s += " taintAt=" + std::to_string(in.cap->taint_at);
    s += " releaseBelow=" + std::to_string(in.cap->release_below);
  } else {
    s += " cap=none";
  }
  s += in.taint.present ? " tainted" : " untainted";
  if (in.evict_overflow) s += " notTerminating=" + std::to_string(in.pods_not_terminating);
  return s;
}

// Names at most `limit` pods, then "and N more".
std::string PodList(const std::vector<std::string>& pods, size_t limit = 10) {
  std::string s;
  for (size_t i = 0; i < pods.size() && i < limit; ++i) {
    if (i > 0) s += ", ";
    s += pods[i];
  }
  if (pods.size() > limit) s += " and " + std::to_string(pods.size() - limit) + " more";
  return s;
}

EventText ReachedEvent(const DensityInputs& in, const kube::Taint& desired) {
  const DensityCap& c = *in.cap;
  std::string msg = "Node " + in.node + " has " + std::to_string(in.pods) + " pods";
  if (c.taint_at < c.cap) {
    msg += ", reaching the taint mark of " + std::to_string(c.taint_at) + " below its cap of " +
           CapText(c);
  } else {
    msg += ", reaching its cap of " + CapText(c);
  }
  msg += " (policy " + in.policy + "): ";
  msg += in.dry_run ? "dryRun, would add taint " : "added taint ";
  msg += TaintText(desired) + " so new pods go to other nodes";
  return {"Warning", std::string(kCapReachedReason), std::move(msg)};
}

EventText ReleasedEvent(const DensityInputs& in, const kube::Taint& desired, bool executed,
                        DecisionReason reason) {
  std::string msg = "Node " + in.node + " has " + std::to_string(in.pods) + " pods";
  if (in.governance != Governance::kEnforce) {
    msg += "; policy " + in.policy + " " + GovernanceText(in.governance);
  } else if (!in.cap) {
    msg += "; policy " + in.policy + " sets no cap for it";
  } else if (reason == DecisionReason::kForeignTaint) {
    msg += " (cap " + std::to_string(in.cap->cap) + ", policy " + in.policy +
           "), but the node carries a taint " + TaintText(desired) +
           " that nodeguard did not apply, so it cannot put its own taint in its place";
  } else {
    msg += ", below the release mark of " + std::to_string(in.cap->release_below) + " (cap " +
           CapText(*in.cap) + ", policy " + in.policy + ")";
  }
  msg += executed ? ": removed taint " : ": dryRun, would remove taint ";
  msg += in.taint.present && !in.current.key.empty() ? in.current.key : desired.key;
  return {"Normal", std::string(kCapReleasedReason), std::move(msg)};
}

}  // namespace

kube::Taint DesiredTaint(const api::PodDensitySpec& spec, const std::string& policy_name) {
  kube::Taint t;
  t.key = spec.taint.key;
  t.value = spec.taint.value.empty() ? policy_name : spec.taint.value;
  t.effect = spec.taint.effect;
  return t;
}

DensityDecision DecideTaint(const DensityInputs& in, const kube::Taint& desired) {
  DensityDecision d;
  const bool tainted = in.taint.present;
  auto remove_if_tainted = [&](DecisionReason reason) {
    d.reason = reason;
    d.action = tainted ? TaintAction::kRemove : TaintAction::kNone;
    d.capped = false;
  };

  if (in.governance == Governance::kHold) {
    d.reason = DecisionReason::kHeld;
    d.capped = tainted;
  } else if (in.governance != Governance::kEnforce) {
    remove_if_tainted(DecisionReason::kReleasedByPolicy);
  } else if (!in.cap) {
    remove_if_tainted(DecisionReason::kNoCap);
  } else if (!tainted) {
    if (in.pods < in.cap->taint_at) {
      d.reason = DecisionReason::kBelowTaintMark;
    } else if (in.taint.foreign_holds_desired) {
      d.reason = DecisionReason::kForeignTaint;
    } else {
      d.reason = DecisionReason::kCapReached;
      d.action = TaintAction::kAdd;
      d.capped = true;
    }
  } else if (in.pods < in.cap->release_below) {
    remove_if_tainted(DecisionReason::kBelowReleaseMark);
  } else if (!in.taint.matches_desired && in.taint.foreign_holds_desired) {
    remove_if_tainted(DecisionReason::kForeignTaint);
  } else {
    d.reason = in.pods >= in.cap->taint_at ? DecisionReason::kCapReached
                                           : DecisionReason::kWithinHysteresis;
    d.capped = true;
    if (!in.taint.matches_desired) d.action = TaintAction::kUpdate;
  }

  // Undoing nodeguard's own taint of a deleted policy is the one write dry
  // run allows: without it the policy's finalizer would never be released.
  const bool undo_deleted =
      in.governance == Governance::kReleaseDeleted && d.action == TaintAction::kRemove;
  d.execute = d.action != TaintAction::kNone && (!in.dry_run || undo_deleted);
  if (d.action == TaintAction::kAdd) d.event = ReachedEvent(in, desired);
  if (d.action == TaintAction::kRemove) {
    d.event = ReleasedEvent(in, desired, d.execute, d.reason);
  }

  d.metrics.node = in.node;
  d.metrics.pods = in.pods;
  if (in.cap) d.metrics.cap = in.cap->cap;
  d.metrics.capped = d.capped;
  if (d.capped) {
    api::DensityCappedNode entry;
    entry.node = in.node;
    entry.pods = static_cast<int32_t>(in.pods);
    entry.cap = in.cap ? static_cast<int32_t>(in.cap->cap) : 0;
    d.status_entry = std::move(entry);
  }

  // Overflow eviction (the second table in the header).
  if (in.governance == Governance::kEnforce && in.cap && in.evict_overflow &&
      in.pods_not_terminating > OverflowCap(*in.cap)) {
    d.overflow = in.pods_not_terminating - OverflowCap(*in.cap);
    d.evict = !in.dry_run;
  }

  d.explanation = std::string("density ") + (in.dry_run ? "dryRun " : "") + "node=" + in.node +
                  " policy=" + in.policy + " " + Numbers(in) +
                  " action=" + TaintActionName(d.action) +
                  " reason=" + DecisionReasonName(d.reason);
  if (d.overflow > 0) d.explanation += " overflow=" + std::to_string(d.overflow);
  return d;
}

EventText OverflowEvent(const DensityInputs& in, int64_t overflow, const OverflowOutcome& outcome) {
  const int64_t cap = in.cap ? OverflowCap(*in.cap) : 0;
  std::string msg = "Node " + in.node + " has " + std::to_string(in.pods_not_terminating) +
                    " pods not terminating, " + std::to_string(overflow) + " above its cap of " +
                    std::to_string(cap) + " (policy " + in.policy + "): ";
  const auto n = static_cast<int64_t>(outcome.evicted.size());
  if (in.dry_run) {
    msg += "dryRun, would evict " + std::to_string(n) + " pods";
  } else {
    msg += "evicted " + std::to_string(n) + " pods";
  }
  if (n > 0) msg += ", newest first: " + PodList(outcome.evicted);
  if (!outcome.refused.empty()) {
    msg +=
        "; refused (PodDisruptionBudget or throttling), retried later: " + PodList(outcome.refused);
  }
  if (!outcome.failed.empty()) msg += "; failed: " + PodList(outcome.failed);
  if (n < overflow && outcome.refused.empty() && outcome.failed.empty()) {
    msg += "; only " + std::to_string(outcome.movable) +
           " pods on the node can be moved (not DaemonSet, mirror, bare or emptyDir pods)";
  }
  return {"Warning", std::string(kOverflowEvictedReason), std::move(msg)};
}

}  // namespace nodeguard::density
