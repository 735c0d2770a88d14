#include "cli/view.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "common/duration.h"
#include "common/text.h"
#include "common/time.h"
#include "density/cap.h"
#include "density/taint_record.h"
#include "health/evaluate.h"
#include "reconcile/resolver.h"

namespace nodeguard::cli {
namespace {

using remediation::Phase;
using remediation::RemediationState;

const char* StatusText(kube::ConditionStatus s) { return kube::ConditionStatusName(s); }

const api::Condition* FindCondition(const api::NodeHealthPolicy& p, std::string_view type) {
  for (const auto& c : p.status.conditions)
    if (c.type == type) return &c;
  return nullptr;
}

const api::NodeHealthPolicy* FindPolicy(const Snapshot& s, std::string_view name) {
  for (const auto& p : s.policies)
    if (p.meta.name == name) return &p;
  return nullptr;
}

std::string TaintText(const kube::Taint& t) {
  std::string out = t.key;
  if (!t.value.empty()) out += "=" + t.value;
  return out + ":" + kube::TaintEffectName(t.effect);
}

bool FailedWithOurCordon(const NodeView& n) {
  return n.state && n.state->phase == Phase::kFailed && n.cordoned_by == "nodeguard";
}

std::string Fmt(Duration d) { return FormatGoDuration(d); }

// The first clause of a state message ("...; node x left cordoned ..."): the
// why, without the advice the controller appends.
std::string FirstClause(const std::string& message) {
  const size_t semi = message.find("; ");
  return semi == std::string::npos ? message : message.substr(0, semi);
}

// Cut on a character boundary, ending with an ellipsis when cut (common/text.h).
std::string Short(const std::string& text, size_t max) { return TruncateUtf8(text, max); }

std::string Pods(int64_t n) { return std::to_string(n) + (n == 1 ? " pod" : " pods"); }

// "set by maxPods", and when the adaptive cap lowered it: ", lowered from 70
// while the node's early-warning level is Degraded (spec.earlyWarning.adaptiveCap)".
std::string CapSource(const NodeView& n) {
  std::string s = "set by " + n.cap_bound;
  if (n.policy_cap) {
    s += ", lowered from " + std::to_string(*n.policy_cap) +
         " while the node's early-warning level is " + n.early_warning +
         " (spec.earlyWarning.adaptiveCap)";
  }
  return s;
}

std::string PhaseCell(const NodeView& n) {
  if (!n.state_error.empty()) return "Unreadable";
  if (!n.state) return "-";
  std::string out = remediation::PhaseName(n.state->phase);
  if (remediation::IsTerminal(n.state->phase) && n.state->outcome != remediation::Outcome::kNone) {
    out += std::string(":") + remediation::OutcomeName(n.state->outcome);
  }
  return out;
}

// Whether the state still matters for the node: not finished, or finished
// with nodeguard's cordon still on (a finished, released one is history).
bool StateIsLive(const NodeView& n) {
  return n.state && (!remediation::IsTerminal(n.state->phase) || n.cordoned_by == "nodeguard");
}

std::string ReasonCell(const NodeView& n) {
  if (!n.state_error.empty()) return "unreadable nodeguard.io/remediation: " + n.state_error;
  if (StateIsLive(n)) {
    if (n.state->phase == Phase::kPending && !n.state->hold.empty()) {
      return n.state->hold + ": " + FirstClause(n.state->message);
    }
    return FirstClause(n.state->message);
  }
  if (n.cordoned_by == "person") return "cordoned by someone else";
  if (n.tainted && n.cap) {
    return std::to_string(n.pods) + " pods, taint at " + std::to_string(*n.taint_at) + " (cap " +
           std::to_string(*n.cap) + ", " + n.cap_bound + ")";
  }
  if (n.excluded) return std::string(health::kExcludeLabel) + "=true";
  if (n.health != "Healthy") return n.health_detail;
  if (n.ready != "True") return "Ready=" + n.ready;
  return "";
}

std::optional<WallTime> SinceOf(const NodeView& n) {
  if (StateIsLive(n)) return n.state->phase_since;
  if (n.tainted && n.tainted_since) return n.tainted_since;
  if (n.ready != "True") return n.ready_since;
  return std::nullopt;
}

nlohmann::json OptionalTime(const std::optional<WallTime>& t) {
  return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
}

nlohmann::json StateJson(const NodeView& n) {
  if (!n.state) return nullptr;
  const RemediationState& s = *n.state;
  nlohmann::json j = {
      {"id", s.id},
      {"policy", s.policy},
      {"phase", remediation::PhaseName(s.phase)},
      {"outcome", s.outcome == remediation::Outcome::kNone
                      ? nlohmann::json(nullptr)
                      : nlohmann::json(remediation::OutcomeName(s.outcome))},
      {"action",
       s.action ? nlohmann::json(api::RemediationActionName(*s.action)) : nlohmann::json(nullptr)},
      {"attempt", s.attempt},
      {"phaseSince", FormatRfc3339(s.phase_since)},
      {"finishedAt", OptionalTime(s.finished_at)},
      {"slotHeldUntil", OptionalTime(s.slot_held_until)},
      {"cordonedByUs", s.cordoned_by_us},
      {"hold", s.hold},
      {"message", s.message},
  };
  return j;
}

nlohmann::json NodeJson(const NodeView& n) {
  auto opt = [](const std::optional<int64_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  return {
      {"name", n.name},
      {"policy", n.policy},
      {"governed", n.governed},
      {"conflicts", n.conflicts},
      {"ready", n.ready},
      {"health", n.health},
      {"healthDetail", n.health_detail},
      {"cordoned", n.cordoned},
      {"cordonedBy", n.cordoned_by},
      {"excluded", n.excluded},
      {"pods", n.pods},
      {"cap", opt(n.cap)},
      {"taintAt", opt(n.taint_at)},
      {"releaseBelow", opt(n.release_below)},
      {"policyCap", opt(n.policy_cap)},
      {"earlyWarning", n.early_warning},
      {"tainted", n.tainted},
      {"taint", n.taint},
      {"taintPolicy", n.taint_policy},
      {"remediation", StateJson(n)},
      {"stateError", n.state_error},
      {"notable", n.notable},
  };
}

}  // namespace

// ------------------------------------------------------------------ views

std::vector<NodeView> BuildNodeViews(const Snapshot& snapshot) {
  std::vector<const api::NodeHealthPolicy*> policies;
  for (const auto& p : snapshot.policies) policies.push_back(&p);
  std::vector<const kube::Node*> nodes;
  for (const auto& n : snapshot.nodes) nodes.push_back(&n);
  const runtime::Resolution resolution = runtime::ResolvePolicies(policies, nodes);

  std::map<std::string, std::vector<std::string>> conflicts;  // Node -> policies.
  for (const auto& [policy, pn] : resolution.by_policy)
    for (const auto& c : pn.conflicts) conflicts[c.node].push_back(policy);

  std::map<std::string, std::shared_ptr<health::HealthRules>> rules;  // Null: not compilable.
  for (const auto& p : snapshot.policies) {
    auto compiled = health::HealthRules::Compile(p.spec.health.unhealthy_conditions);
    rules[p.meta.name] = compiled.ok()
                             ? std::make_shared<health::HealthRules>(std::move(compiled).value())
                             : nullptr;
  }

  std::map<std::string, std::vector<const kube::Pod*>> pods_by_node;
  for (const auto& pod : snapshot.pods) pods_by_node[pod.node_name.str()].push_back(&pod);

  std::vector<NodeView> out;
  out.reserve(snapshot.nodes.size());
  for (const kube::Node& node : snapshot.nodes) {
    NodeView v;
    v.name = node.meta.name;
    const auto governing = resolution.governing.find(v.name);
    const api::NodeHealthPolicy* policy = nullptr;
    if (governing != resolution.governing.end()) {
      v.policy = governing->second;
      v.governed = true;
      policy = FindPolicy(snapshot, v.policy);
    }
    if (auto c = conflicts.find(v.name); c != conflicts.end()) v.conflicts = c->second;

    if (const kube::NodeCondition* ready = node.FindCondition("Ready")) {
      v.ready = StatusText(ready->status);
      if (kube::IsSet(ready->last_transition_time)) v.ready_since = ready->last_transition_time;
    }
    v.cordoned = node.unschedulable;
    v.excluded = health::IsExcluded(node);

    if (const std::string* raw = node.Annotation(remediation::kRemediationAnnotation)) {
      auto state = remediation::DecodeState(*raw);
      if (state.ok()) {
        v.state = std::move(state).value();
        if (v.policy.empty()) v.policy = v.state->policy;
      } else {
        v.state_error = state.error().message;
      }
    }
    if (v.cordoned) v.cordoned_by = v.state && v.state->cordoned_by_us ? "nodeguard" : "person";

    if (policy != nullptr) {
      const auto r = rules.find(policy->meta.name);
      if (r == rules.end() || r->second == nullptr) {
        v.health = "Unknown";
        v.health_detail = "the policy's health rules do not compile";
      } else {
        const health::NodeHealth h = health::Evaluate(node, *r->second, snapshot.now);
        v.health = health::VerdictName(h.verdict);
        if (h.verdict != health::Verdict::kHealthy) v.health_detail = h.Describe(snapshot.now);
      }
    }

    const api::PodDensitySpec density =
        policy != nullptr ? policy->spec.pod_density : api::PodDensitySpec{};
    const auto& on_node = pods_by_node[v.name];
    v.pods = density::CountPods(kube::Symbol::Intern(v.name), on_node, density);
    if (policy != nullptr && density.enabled) {
      if (auto cap = density::ComputeCap(density, node, density::AdaptiveCapOf(policy->spec))) {
        v.cap = cap->cap;
        if (cap->adaptation == density::CapAdaptation::kLowered) v.policy_cap = cap->policy_cap;
        v.taint_at = cap->taint_at;
        v.release_below = cap->release_below;
        v.cap_bound = density::CapBoundName(cap->bound);
      }
    }
    if (node.early_warning.level != kube::EarlyWarningLevel::kAbsent) {
      v.early_warning = kube::EarlyWarningLevelName(node.early_warning.level);
    }
    const density::OwnTaint own = density::FindOwnTaint(node, {});
    if (own.on_node()) {
      v.tainted = true;
      const kube::Taint& taint = node.taints[*own.index];
      v.taint = TaintText(taint);
      v.taint_policy = own.owner();
      if (kube::IsSet(taint.time_added)) v.tainted_since = taint.time_added;
    }

    v.notable = v.cordoned || v.tainted || v.ready != "True" || v.health != "Healthy" ||
                v.excluded || !v.state_error.empty() ||
                (v.state && !remediation::IsTerminal(v.state->phase));
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(),
            [](const NodeView& a, const NodeView& b) { return a.name < b.name; });
  return out;
}

StatusView BuildStatus(const Snapshot& snapshot, const std::string& policy, bool all_nodes) {
  StatusView view;
  std::vector<NodeView> nodes = BuildNodeViews(snapshot);
  view.total_nodes = static_cast<int32_t>(nodes.size());

  for (const auto& p : snapshot.policies) {
    if (!policy.empty() && p.meta.name != policy) continue;
    PolicyView pv;
    pv.name = p.meta.name;
    if (const api::Condition* ready = FindCondition(p, api::kConditionReady)) {
      pv.ready = StatusText(ready->status);
      if (ready->status != kube::ConditionStatus::kTrue) {
        pv.ready_message = ready->reason + ": " + ready->message;
      }
    }
    pv.paused = p.spec.paused;
    pv.dry_run = p.spec.dry_run;
    pv.mode = pv.paused && pv.dry_run ? "Paused,DryRun"
              : pv.paused             ? "Paused"
              : pv.dry_run            ? "DryRun"
                                      : "Active";
    pv.selected = p.status.selected_nodes;
    if (const api::Condition* storm = FindCondition(p, api::kConditionStormDetected);
        storm != nullptr && storm->status == kube::ConditionStatus::kTrue) {
      pv.storm = true;
      pv.storm_message = storm->message;
    }
    if (const api::Condition* degraded = FindCondition(p, api::kConditionDegraded);
        degraded != nullptr && degraded->status == kube::ConditionStatus::kTrue) {
      pv.degraded_reason = degraded->reason;
      pv.degraded_message = degraded->message;
    }
    for (const NodeView& n : nodes) {
      const bool state_ours = n.state && n.state->policy == pv.name;
      if (n.tainted && n.taint_policy == pv.name) ++pv.tainted;
      if (state_ours && remediation::IsDisruptive(n.state->phase)) ++pv.remediating;
      if (state_ours && FailedWithOurCordon(n)) ++pv.failed;
    }
    view.policies.push_back(std::move(pv));
  }
  std::sort(view.policies.begin(), view.policies.end(),
            [](const PolicyView& a, const PolicyView& b) { return a.name < b.name; });

  for (NodeView& n : nodes) {
    if (n.notable || FailedWithOurCordon(n)) ++view.notable_nodes;
    if (!policy.empty()) {
      const bool related =
          n.policy == policy ||
          std::find(n.conflicts.begin(), n.conflicts.end(), policy) != n.conflicts.end() ||
          (n.state && n.state->policy == policy);
      if (!related) continue;
    }
    if (!all_nodes && !n.notable && !FailedWithOurCordon(n)) continue;
    view.nodes.push_back(std::move(n));
  }
  return view;
}

// ------------------------------------------------------------------ status output

std::string FormatStatus(const StatusView& view, WallTime now) {
  std::string out;
  if (view.policies.empty()) {
    out += "No NodeHealthPolicy found.\n";
  } else {
    std::vector<std::vector<std::string>> rows = {
        {"POLICY", "READY", "MODE", "SELECTED", "TAINTED", "REMEDIATING", "FAILED", "STORM"}};
    for (const auto& p : view.policies) {
      rows.push_back({p.name, p.ready, p.mode, std::to_string(p.selected),
                      std::to_string(p.tainted), std::to_string(p.remediating),
                      std::to_string(p.failed), p.storm ? "Yes" : "No"});
    }
    out += FormatTable(rows);
  }
  out += "\n";
  if (view.nodes.empty()) {
    out += "No node needs attention (" + std::to_string(view.total_nodes) +
           " nodes; --all lists every node).\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"NODE", "POLICY", "READY", "CORDON", "PODS/CAP",
                                                   "TAINT", "REMEDIATION", "SINCE", "REASON"}};
    for (const auto& n : view.nodes) {
      const std::optional<WallTime> since = SinceOf(n);
      rows.push_back({n.name, n.policy.empty() ? "-" : n.policy, n.ready,
                      n.cordoned_by.empty() ? "-" : n.cordoned_by,
                      std::to_string(n.pods) + "/" + (n.cap ? std::to_string(*n.cap) : "-"),
                      n.tainted ? "capped" : "-", PhaseCell(n),
                      since ? HumanAge(now - *since) : "-", Short(ReasonCell(n), 70)});
    }
    out += FormatTable(rows);
  }
  std::vector<std::string> warnings;
  for (const auto& p : view.policies) {
    if (!p.ready_message.empty() && p.ready != "True") {
      warnings.push_back("policy " + p.name + " is not Ready: " + p.ready_message);
    }
    if (p.storm) warnings.push_back("policy " + p.name + ": storm: " + p.storm_message);
    if (!p.degraded_reason.empty()) {
      warnings.push_back("policy " + p.name + ": Degraded (" + p.degraded_reason +
                         "): " + p.degraded_message);
    }
  }
  if (!warnings.empty()) {
    out += "\n";
    for (const auto& w : warnings) out += "! " + w + "\n";
  }
  return out;
}

nlohmann::json StatusJson(const StatusView& view) {
  nlohmann::json policies = nlohmann::json::array();
  for (const auto& p : view.policies) {
    policies.push_back({
        {"name", p.name},
        {"ready", p.ready},
        {"readyMessage", p.ready_message},
        {"mode", p.mode},
        {"paused", p.paused},
        {"dryRun", p.dry_run},
        {"selected", p.selected},
        {"tainted", p.tainted},
        {"remediating", p.remediating},
        {"failed", p.failed},
        {"storm", p.storm},
        {"stormMessage", p.storm_message},
        {"degradedReason", p.degraded_reason},
        {"degradedMessage", p.degraded_message},
    });
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : view.nodes) nodes.push_back(NodeJson(n));
  return {{"kind", "NodeguardStatus"},
          {"policies", policies},
          {"nodes", nodes},
          {"totalNodes", view.total_nodes},
          {"notableNodes", view.notable_nodes}};
}

// ------------------------------------------------------------------ explain

namespace {

// What Explain builds up, shared by its steps. The first verdict set wins, so
// the steps run from the most to the least important finding.
struct ExplainWriter {
  const Snapshot& snapshot;
  const NodeView& n;
  // The remediation settings that apply: those of the policy that owns the
  // remediation state (which may have been deleted), else the governing one.
  const api::RemediationSpec* spec;
  Explanation& e;

  void Add(std::string s) { e.reasons.push_back(std::move(s)); }
  void Verdict(const char* v) {
    if (e.verdict.empty()) e.verdict = v;
  }
};

const api::RemediationSpec* ApplicableSpec(const Snapshot& snapshot, const NodeView& n) {
  const api::NodeHealthPolicy* policy = n.governed ? FindPolicy(snapshot, n.policy) : nullptr;
  const api::NodeHealthPolicy* owner =
      n.state ? FindPolicy(snapshot, n.state->policy) : nullptr;  // May be deleted.
  return owner != nullptr    ? &owner->spec.remediation
         : policy != nullptr ? &policy->spec.remediation
                             : nullptr;
}

void ExplainMalformedState(ExplainWriter& w) {
  const NodeView& n = w.n;
  if (n.state_error.empty()) return;
  w.Verdict("malformed-state");
  w.Add("Its nodeguard.io/remediation annotation cannot be read (" + n.state_error +
        "), so nodeguard does not act on this node at all.");
  w.e.next_step = "Find what wrote the annotation; remove it (kubectl annotate node " + n.name +
                  " nodeguard.io/remediation-) only if no remediation of nodeguard is in flight.";
}

// A failed remediation keeps its cordon (and maybe its slot) until a person
// releases the node, so the next step is the runbook's.
void ExplainFailed(ExplainWriter& w, const std::string& ago) {
  const NodeView& n = w.n;
  const RemediationState& s = *n.state;
  const api::RemediationSpec* spec = w.spec;
  w.Verdict("failed");
  w.Add("Remediation " + s.id + " of policy " + s.policy + " failed " + ago + " ago (" +
        remediation::OutcomeName(s.outcome) + "): " + FirstClause(s.message) + ".");
  w.Add(
      "nodeguard keeps the node cordoned and does not remediate it again until a person "
      "hands it back" +
      (spec != nullptr ? "; if it recovers by itself and stays Ready for " +
                             Fmt(spec->recovery_stable_for) + ", nodeguard lifts its cordon"
                       : std::string()) +
      ".");
  if (s.slot_held_until && w.snapshot.now < *s.slot_held_until) {
    w.Add("It holds a remediation slot of its policy for " +
          HumanAge(*s.slot_held_until - w.snapshot.now) +
          " more (holdSlotAfterFailure): meanwhile no other node of the policy is remediated "
          "beyond maxConcurrent.");
  } else if (!s.slot_held_until) {
    w.Add("It holds a remediation slot of its policy until a person hands it back.");
  }
  std::string& next = w.e.next_step;
  next = "Find out why (the node's Events: kubectl describe node " + n.name +
         "; docs/pleg-runbook.md, \"A failed remediation\"), repair the node, then " +
         "kubectl nodeguard release " + n.name +
         " (the runbook's `kubectl uncordon`): it becomes eligible again";
  if (spec != nullptr) {
    next += " (cooldown " + Fmt(spec->cooldown) + " after this remediation; attempt " +
            std::to_string(s.attempt) + " of maxAttemptsPerNode " +
            std::to_string(spec->max_attempts_per_node) + ")";
  }
  next += ". To take it out of nodeguard's hands for good: kubectl label node " + n.name +
          " nodeguard.io/exclude=true.";
}

void ExplainPending(ExplainWriter& w) {
  const NodeView& n = w.n;
  const RemediationState& s = *n.state;
  w.Verdict("pending");
  w.Add("Unhealthy and waiting for nodeguard to start remediating it" +
        (s.hold.empty() ? std::string() : " (" + s.hold + ")") + ": " + s.message + ".");
  if (s.hold == "CordonedByPerson") {
    w.e.next_step = "Someone cordoned it: uncordon it (kubectl uncordon " + n.name +
                    ") to let nodeguard act, or set takeOverCordonedNodes in the policy.";
  } else if (s.hold == "MaxAttempts") {
    w.e.next_step = "It was remediated maxAttemptsPerNode times: it needs a person.";
  } else if (s.hold == "Paused") {
    w.e.next_step = "kubectl nodeguard resume " + s.policy + " to let nodeguard act.";
  }
}

// The node's remediation annotation, by phase: failed, in flight, waiting,
// ended with nodeguard's cordon still on, or long over.
void ExplainRemediationState(ExplainWriter& w) {
  const NodeView& n = w.n;
  if (!n.state) return;
  const RemediationState& s = *n.state;
  const std::string ago = HumanAge(w.snapshot.now - s.phase_since);
  if (s.phase == Phase::kFailed && n.cordoned_by == "nodeguard") {
    ExplainFailed(w, ago);
  } else if (remediation::IsDisruptive(s.phase)) {
    w.Verdict("remediating");
    std::string what = "Remediation " + s.id + " of policy " + s.policy + " has been in phase " +
                       remediation::PhaseName(s.phase) + " for " + ago;
    if (s.action) {
      what += " (rung " + std::to_string(s.action_index + 1) + ": " +
              api::RemediationActionName(*s.action) + ")";
    }
    w.Add(what + ": " + s.message + ".");
    w.e.next_step =
        "Nothing: nodeguard drains, restarts and uncordons the node itself. To stop new "
        "disruptive steps: kubectl nodeguard pause " +
        s.policy + ".";
  } else if (s.phase == Phase::kPending) {
    ExplainPending(w);
  } else if (n.cordoned_by == "nodeguard") {
    w.Verdict("cordoned-by-nodeguard");
    w.Add("Remediation " + s.id + " ended " + remediation::PhaseName(s.phase) + " (" +
          remediation::OutcomeName(s.outcome) + ") " + ago +
          " ago; nodeguard keeps its cordon until the node is healthy, then lifts it.");
  } else if (remediation::IsTerminal(s.phase) && !n.notable) {
    w.Add("Its last remediation, " + s.id + ", ended " + remediation::PhaseName(s.phase) +
          (s.outcome != remediation::Outcome::kNone
               ? std::string(" (") + remediation::OutcomeName(s.outcome) + ")"
               : std::string()) +
          " " + ago + " ago.");
  }
}

// What keeps nodeguard's hands off the node, or new pods off it: a person's
// cordon, the exclude label, the density taint.
void ExplainCordonExclusionAndTaint(ExplainWriter& w) {
  const NodeView& n = w.n;
  if (n.cordoned_by == "person") {
    w.Verdict("cordoned-by-person");
    w.Add(
        "It is cordoned, not by nodeguard: nodeguard never uncordons a node it did not "
        "cordon, and does not remediate it unless the policy sets takeOverCordonedNodes.");
    if (w.e.next_step.empty()) {
      w.e.next_step = "Whoever cordoned it uncordons it (kubectl uncordon " + n.name + ").";
    }
  }
  if (n.excluded) {
    w.Verdict("excluded");
    w.Add(
        "It is labelled nodeguard.io/exclude=true: nodeguard never remediates it (density "
        "caps still apply).");
  }
  if (n.tainted) {
    w.Verdict("capped");
    std::string text = "It carries nodeguard's density taint " + n.taint;
    if (n.cap) {
      text += ": " + std::to_string(n.pods) + " pods counted, cap " + std::to_string(*n.cap) +
              " (" + CapSource(n) + "), tainted from " + Pods(*n.taint_at) + ", released below " +
              Pods(*n.release_below);
    }
    w.Add(text + ".");
    if (w.e.next_step.empty()) {
      w.e.next_step = "Nothing: the taint is lifted once fewer than " +
                      (n.release_below ? Pods(*n.release_below) : std::string("the mark's pods")) +
                      " count on the node (new pods go to other nodes meanwhile).";
    }
  }
}

// Which policy governs the node, its health under it, and its density cap.
void ExplainGovernance(ExplainWriter& w) {
  const NodeView& n = w.n;
  if (!n.governed) {
    w.Verdict("not-selected");
    w.Add(n.state ? "No policy selects it now (its remediation state names policy " +
                        n.state->policy + ")."
                  : "No NodeHealthPolicy selects it: nodeguard leaves it alone.");
  } else if (!n.conflicts.empty()) {
    w.Verdict("conflict");
    w.Add("It is governed by policy " + n.policy + " (the oldest that selects it); " +
          JoinBounded(n.conflicts, ", ", 10) + " select it too and leave it alone.");
  } else {
    w.Add("It is governed by policy " + n.policy + ".");
  }
  if (n.health != "Healthy" && !(n.state && !remediation::IsTerminal(n.state->phase))) {
    w.Verdict("unhealthy");
    w.Add("Health under its policy: " + n.health + ": " + n.health_detail + ".");
  }
  if (n.cap && !n.tainted) {
    w.Add(std::to_string(n.pods) + " pods counted, cap " + std::to_string(*n.cap) + " (" +
          CapSource(n) + "): tainted from " + Pods(*n.taint_at) + ".");
  }
}

}  // namespace

Explanation Explain(const Snapshot& snapshot, const std::string& name) {
  Explanation e;
  for (NodeView& v : BuildNodeViews(snapshot))
    if (v.name == name) e.node = std::move(v);
  ExplainWriter w{snapshot, e.node, ApplicableSpec(snapshot, e.node), e};
  // Order matters: the first step to set a verdict decides it.
  ExplainMalformedState(w);
  ExplainRemediationState(w);
  ExplainCordonExclusionAndTaint(w);
  ExplainGovernance(w);
  w.Verdict("ok");
  return e;
}

std::string FormatExplanation(const Explanation& e, WallTime now) {
  (void)now;
  const NodeView& n = e.node;
  std::string out = "Node " + n.name + ": " + e.verdict + "\n";
  for (const auto& r : e.reasons) out += "  - " + r + "\n";
  if (!e.next_step.empty()) out += "Next: " + e.next_step + "\n";
  std::string figures = "Ready=" + n.ready + ", " + (n.cordoned ? "cordoned" : "schedulable") +
                        ", pods " + std::to_string(n.pods) +
                        (n.cap ? "/" + std::to_string(*n.cap) : std::string()) +
                        (n.state ? ", remediation " + n.state->id + " " + PhaseCell(n) +
                                       " (attempt " + std::to_string(n.state->attempt) + ")"
                                 : std::string());
  out += "Figures: " + figures + "\n";
  return out;
}

nlohmann::json ExplanationJson(const Explanation& e) {
  return {{"kind", "NodeguardExplanation"},
          {"node", NodeJson(e.node)},
          {"verdict", e.verdict},
          {"reasons", e.reasons},
          {"nextStep", e.next_step}};
}

// ------------------------------------------------------------------ release

ReleaseDecision DecideRelease(const kube::Node& node, const std::string* raw_state,
                              const api::NodeHealthPolicy* policy, WallTime now) {
  ReleaseDecision d;
  const std::string& name = node.meta.name;
  auto refuse = [&](std::string why) {
    d.kind = ReleaseDecision::kRefuse;
    d.message = "refusing to release node " + name + ": " + std::move(why);
    return d;
  };
  if (raw_state == nullptr) {
    return refuse(node.unschedulable
                      ? "it is cordoned, but not by nodeguard (no nodeguard.io/remediation "
                        "state): nodeguard has nothing to hand back. If you mean to lift that "
                        "cordon, `kubectl uncordon " +
                            name + "` does."
                      : "nodeguard has no remediation on it (no nodeguard.io/remediation "
                        "state), and it is schedulable.");
  }
  auto decoded = remediation::DecodeState(*raw_state);
  if (!decoded.ok()) {
    return refuse("its nodeguard.io/remediation state cannot be read (" + decoded.error().message +
                  "); nodeguard does not act on it either.");
  }
  const RemediationState& s = *decoded;
  if (s.phase != Phase::kFailed) {
    if (!remediation::IsTerminal(s.phase)) {
      return refuse(
          std::string("its remediation ") + s.id + " is in progress (phase " +
          remediation::PhaseName(s.phase) +
          "), not failed: nodeguard uncordons it itself when it is done. To stop nodeguard from "
          "taking new steps: kubectl nodeguard pause " +
          s.policy + "; to take the node out of its hands: kubectl label node " + name +
          " nodeguard.io/exclude=true.");
    }
    return refuse(std::string("its last remediation ") + s.id + " ended " +
                  remediation::PhaseName(s.phase) +
                  ", not Failed: there is no failed remediation to hand back" +
                  (node.unschedulable && s.cordoned_by_us
                       ? "; nodeguard lifts its own cordon once the node is healthy."
                       : "."));
  }
  if (!node.unschedulable) {
    d.kind = ReleaseDecision::kAlreadyReleased;
    d.message = "node " + name + " is already schedulable: remediation " + s.id +
                " failed and its cordon was lifted already; nothing to do.";
    return d;
  }
  if (!s.cordoned_by_us) {
    return refuse("remediation " + s.id +
                  " failed, but the cordon on the node now is not nodeguard's (someone "
                  "uncordoned and cordoned it again): not nodeguard's to hand back.");
  }
  // Healthy first: uncordoning a sick node lets pods onto it, and the runbook
  // says "when the node is healthy".
  const kube::NodeCondition* ready = node.FindCondition("Ready");
  if (ready == nullptr || ready->status != kube::ConditionStatus::kTrue) {
    return refuse(std::string("it is not Ready (Ready=") +
                  (ready == nullptr ? "absent" : kube::ConditionStatusName(ready->status)) +
                  "): repair it first (docs/pleg-runbook.md, \"A failed remediation\", step 2); "
                  "uncordoning a sick node lets pods be scheduled onto it.");
  }
  if (policy != nullptr) {
    auto rules = health::HealthRules::Compile(policy->spec.health.unhealthy_conditions);
    if (rules.ok()) {
      const health::NodeHealth h = health::Evaluate(node, *rules, now);
      if (h.verdict != health::Verdict::kHealthy) {
        return refuse("it is not healthy under policy " + policy->meta.name + "'s rules (" +
                      h.Describe(now) + "): repair it first.");
      }
    }
  }

  nlohmann::json state = nlohmann::json::parse(*raw_state, nullptr, /*allow_exceptions=*/false);
  if (!state.is_object()) return refuse("its state annotation is not a JSON object.");
  state["cordonedByUs"] = false;
  const nlohmann::json patch = {
      {"metadata",
       {{"resourceVersion", node.meta.resource_version},
        {"annotations", {{remediation::kRemediationAnnotation, state.dump()}}}}},
      {"spec", {{"unschedulable", false}}},
  };
  d.kind = ReleaseDecision::kRelease;
  d.patch = patch.dump();
  d.message = "node " + name + " released: uncordoned after failed remediation " + s.id +
              " of policy " + s.policy +
              "; nodeguard may remediate it again if it falls sick (cooldown and "
              "maxAttemptsPerNode apply).";
  d.event_message =
      "Released by a person (kubectl nodeguard release): uncordoned after failed "
      "remediation " +
      s.id + " of policy " + s.policy + " (" + remediation::OutcomeName(s.outcome) +
      "); the node is eligible for remediation again";
  return d;
}

// ------------------------------------------------------------------ pause

PauseDecision DecidePause(const api::NodeHealthPolicy& policy, bool pause) {
  PauseDecision d;
  const std::string& name = policy.meta.name;
  if (policy.spec.paused == pause) {
    d.message = "policy " + name + " is already " + (pause ? "paused" : "active (not paused)") +
                "; nothing to do.";
    return d;
  }
  d.change = true;
  d.patch = nlohmann::json{{"spec", {{"paused", pause}}}}.dump();
  d.message = pause ? "policy " + name +
                          " paused: no new taints, cordons, drains or node agent actions; "
                          "remediations in flight only complete safely."
                    : "policy " + name + " resumed.";
  return d;
}

// ------------------------------------------------------------------ formatting

std::string HumanAge(Duration d) {
  using namespace std::chrono;
  int64_t s = duration_cast<seconds>(d).count();
  if (s < 0) s = 0;
  const int64_t m = s / 60, h = s / 3600, days = s / 86400;
  if (s < 120) return std::to_string(s) + "s";
  if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (h < 3) return std::to_string(m) + "m";
  if (h < 8) return std::to_string(h) + "h" + (m % 60 ? std::to_string(m % 60) + "m" : "");
  if (h < 48) return std::to_string(h) + "h";
  if (days < 8) return std::to_string(days) + "d" + (h % 24 ? std::to_string(h % 24) + "h" : "");
  return std::to_string(days) + "d";
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace nodeguard::cli
