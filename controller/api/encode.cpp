#include "api/encode.h"

#include <algorithm>

#include "common/text.h"
#include "common/time.h"

namespace nodeguard::api {
namespace {

using nlohmann::json;

json Selector(const LabelSelector& s) {
  json j = json::object();
  if (!s.match_labels.empty()) j["matchLabels"] = s.match_labels;
  if (!s.match_expressions.empty()) {
    json exprs = json::array();
    for (const LabelSelectorRequirement& r : s.match_expressions) {
      json e = {{"key", r.key}, {"operator", SelectorOperatorName(r.op)}};
      if (!r.values.empty()) e["values"] = r.values;
      exprs.push_back(std::move(e));
    }
    j["matchExpressions"] = std::move(exprs);
  }
  return j;
}

json IntOrPercentJson(const IntOrPercent& v) {
  if (v.percent) return v.ToString();
  return v.value;
}

json Resources(uint8_t required, const kube::ResourceBit (&bits)[3]) {
  static constexpr const char* kNames[] = {"cpu", "memory", "ephemeral-storage"};
  json list = json::array();
  for (int i = 0; i < 3; ++i) {
    if ((required & bits[i]) != 0) list.push_back(kNames[i]);
  }
  return list;
}

json Time(kube::Time t) { return FormatRfc3339(t); }

json RemediationStatusJson(const RemediationStatus& r) {
  json j = {{"node", r.node}, {"phase", RemediationPhaseName(r.phase)}, {"attempt", r.attempt}};
  if (r.action) j["action"] = RemediationActionName(*r.action);
  j["startedAt"] = Time(r.started_at);
  if (kube::IsSet(r.finished_at)) j["finishedAt"] = Time(r.finished_at);
  if (r.result != RemediationResult::kNone) j["result"] = RemediationResultName(r.result);
  if (!r.message.empty()) j["message"] = TruncateUtf8(r.message, kMaxRemediationMessageLength);
  return j;
}

template <typename T, typename Fn>
void PutList(json& j, const char* name, const std::vector<T>& items, size_t max, Fn&& encode) {
  if (items.empty()) return;
  json list = json::array();
  for (size_t i = 0; i < items.size() && i < max; ++i) list.push_back(encode(items[i]));
  j[name] = std::move(list);
}

}  // namespace

json EncodeStatus(const NodeHealthPolicyStatus& s) {
  json j = json::object();
  j["observedGeneration"] = s.observed_generation;
  PutList(j, "conditions", s.conditions, 16, [](const Condition& c) {
    json cj = {{"type", c.type},
               {"status", kube::ConditionStatusName(c.status)},
               {"observedGeneration", c.observed_generation},
               {"lastTransitionTime", Time(c.last_transition_time)},
               // A reason is a CamelCase word (no room for an ellipsis in its pattern).
               {"reason", std::string(Utf8Prefix(c.reason, kMaxConditionReasonLength))},
               {"message", TruncateUtf8(c.message, kMaxConditionMessageLength)}};
    return cj;
  });
  j["selectedNodes"] = s.selected_nodes;
  j["readyNodes"] = s.ready_nodes;
  j["unhealthyNodes"] = s.unhealthy_nodes;
  j["cappedNodes"] = s.density_capped_node_count;
  j["remediatingNodes"] = s.remediating_nodes;
  j["podsFlagged"] = s.pods_flagged;
  PutList(j, "remediations", s.remediations, 100, RemediationStatusJson);
  PutList(j, "recentRemediations", s.recent_remediations, kMaxRecentRemediations,
          RemediationStatusJson);
  PutList(j, "densityCappedNodes", s.density_capped_nodes, kMaxStatusNodes,
          [](const DensityCappedNode& n) {
            return json{{"node", n.node}, {"pods", n.pods}, {"cap", n.cap}};
          });
  json hygiene = json::object();
  PutList(hygiene, "namespaces", s.resource_hygiene.namespaces, kMaxNamespaceFindings,
          [](const NamespaceFindings& n) {
            return json{{"namespace", n.namespace_}, {"pods", n.pods}};
          });
  PutList(hygiene, "examplePods", s.resource_hygiene.example_pods, kMaxExamplePods,
          [](const FlaggedPod& p) {
            json pj = {{"namespace", p.namespace_}, {"name", p.name}};
            if (!p.findings.empty()) pj["findings"] = TruncateUtf8(p.findings, kMaxFindingsLength);
            return pj;
          });
  if (!hygiene.empty()) j["resourceHygiene"] = std::move(hygiene);
  PutList(j, "nodesWithoutSystemReserve", s.nodes_without_system_reserve, kMaxStatusNodes,
          [](const std::string& n) { return json(n); });
  PutList(j, "conflicts", s.conflicts, kMaxStatusNodes, [](const PolicyConflict& c) {
    return json{{"node", c.node}, {"governedBy", c.governed_by}};
  });
  if (s.early_warning != EarlyWarningCounts{}) {
    const EarlyWarningCounts& e = s.early_warning;
    j["earlyWarning"] = {{"healthy", e.healthy},
                         {"degraded", e.degraded},
                         {"critical", e.critical},
                         {"unknown", e.unknown}};
  }
  return j;
}

json StatusUpdateBody(const kube::ObjectMeta& meta, const NodeHealthPolicyStatus& status) {
  json metadata = {{"name", meta.name}};
  if (!meta.resource_version.empty()) metadata["resourceVersion"] = meta.resource_version;
  return {{"apiVersion", kApiVersion},
          {"kind", kKind},
          {"metadata", std::move(metadata)},
          {"status", EncodeStatus(status)}};
}

json EncodeSpec(const NodeHealthPolicySpec& s) {
  json j = json::object();
  j["nodeSelector"] = Selector(s.node_selector);
  j["paused"] = s.paused;
  j["dryRun"] = s.dry_run;

  if (s.pod_density != PodDensitySpec{}) {
    const PodDensitySpec& d = s.pod_density;
    json pd = {{"enabled", d.enabled}};
    if (d.max_pods) pd["maxPods"] = *d.max_pods;
    if (d.max_pods_per_core) pd["maxPodsPerCore"] = *d.max_pods_per_core;
    pd["releaseBelow"] = IntOrPercentJson(d.release_below);
    json taint = {{"key", d.taint.key}, {"effect", kube::TaintEffectName(d.taint.effect)}};
    if (!d.taint.value.empty()) taint["value"] = d.taint.value;
    pd["taint"] = std::move(taint);
    pd["countDaemonSetPods"] = d.count_daemon_set_pods;
    pd["taintAhead"] = d.taint_ahead;
    pd["evictOverflow"] = d.evict_overflow;
    j["podDensity"] = std::move(pd);
  }

  if (s.early_warning.present) {
    const EarlyWarningSpec& e = s.early_warning;
    json ew = {{"degradedRelistP99", FormatGoDuration(e.degraded_relist_p99)},
               {"calmRelistP99", FormatGoDuration(e.calm_relist_p99)},
               {"criticalLastRelistAge", FormatGoDuration(e.critical_last_relist_age)},
               {"calmLastRelistAge", FormatGoDuration(e.calm_last_relist_age)},
               {"hold", FormatGoDuration(e.hold)}};
    if (e.adaptive_cap) {
      ew["adaptiveCap"] = {{"reduceBy", IntOrPercentJson(e.adaptive_cap->reduce_by)}};
    }
    j["earlyWarning"] = std::move(ew);
  }

  json rules = json::array();
  for (const UnhealthyCondition& u : s.health.unhealthy_conditions) {
    json r = {{"type", u.type}, {"status", kube::ConditionStatusName(u.status)}};
    if (!u.reason.empty()) r["reason"] = u.reason;
    if (!u.message_regex.empty()) r["messageRegex"] = u.message_regex;
    r["duration"] = FormatGoDuration(u.duration);
    rules.push_back(std::move(r));
  }
  j["health"] = {{"unhealthyConditions", std::move(rules)}};

  if (s.remediation != RemediationSpec{}) {
    const RemediationSpec& m = s.remediation;
    json rj = {{"enabled", m.enabled},
               {"maxConcurrent", m.max_concurrent},
               {"maxUnhealthy", IntOrPercentJson(m.max_unhealthy)}};
    if (!m.actions.empty()) {
      json actions = json::array();
      for (RemediationAction a : m.actions) actions.push_back(RemediationActionName(a));
      rj["actions"] = std::move(actions);
    }
    json drain = {{"timeout", FormatGoDuration(m.drain.timeout)}};
    if (m.drain.grace_period_seconds) drain["gracePeriodSeconds"] = *m.drain.grace_period_seconds;
    drain["deleteEmptyDirData"] = m.drain.delete_empty_dir_data;
    drain["force"] = m.drain.force;
    drain["skipWaitForDeleteTimeout"] = FormatGoDuration(m.drain.skip_wait_for_delete_timeout);
    drain["notReadySkipWaitForDeleteTimeout"] =
        FormatGoDuration(m.drain.not_ready_skip_wait_for_delete_timeout);
    drain["podSelector"] = Selector(m.drain.pod_selector);
    rj["drain"] = std::move(drain);
    rj["actionTimeout"] = FormatGoDuration(m.action_timeout);
    rj["recoveryStableFor"] = FormatGoDuration(m.recovery_stable_for);
    rj["cooldown"] = FormatGoDuration(m.cooldown);
    rj["holdSlotAfterFailure"] = FormatGoDuration(m.hold_slot_after_failure);
    rj["maxAttemptsPerNode"] = m.max_attempts_per_node;
    rj["takeOverCordonedNodes"] = m.take_over_cordoned_nodes;
    j["remediation"] = std::move(rj);
  }

  if (s.resource_hygiene != ResourceHygieneSpec{}) {
    const ResourceHygieneSpec& h = s.resource_hygiene;
    static constexpr kube::ResourceBit kRequests[3] = {kube::kRequestCpu, kube::kRequestMemory,
                                                       kube::kRequestEphemeralStorage};
    static constexpr kube::ResourceBit kLimits[3] = {kube::kLimitCpu, kube::kLimitMemory,
                                                     kube::kLimitEphemeralStorage};
    j["resourceHygiene"] = {{"enabled", h.enabled},
                            {"requiredRequests", Resources(h.required, kRequests)},
                            {"requiredLimits", Resources(h.required, kLimits)},
                            {"includeInitContainers", h.include_init_containers},
                            {"excludeNamespaces", h.exclude_namespaces},
                            {"annotatePods", h.annotate_pods},
                            {"emitEvents", h.emit_events},
                            {"flagNodesWithoutSystemReserve", h.flag_nodes_without_system_reserve}};
  }
  return j;
}

}  // namespace nodeguard::api
