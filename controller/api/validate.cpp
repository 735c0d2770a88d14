#include "api/validate.h"

#include <re2/re2.h>

#include <algorithm>
#include <set>
#include <string>

namespace nodeguard::api {
namespace {

class Checker {
 public:
  explicit Checker(std::vector<FieldError>* errors) : errors_(errors) {}
  void Fail(std::string field, std::string message) {
    errors_->push_back({std::move(field), std::move(message)});
  }
  void Range(const std::string& field, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo) Fail(field, "should be greater than or equal to " + std::to_string(lo));
    if (v > hi) Fail(field, "should be less than or equal to " + std::to_string(hi));
  }
  void MaxItems(const std::string& field, size_t n, size_t max) {
    if (n > max)
      Fail(field, "Too many: " + std::to_string(n) + ": must have at most " + std::to_string(max) +
                      " items");
  }
  void MaxLength(const std::string& field, const std::string& s, size_t max) {
    if (s.size() > max) {
      Fail(field, "Too long: may not be more than " + std::to_string(max) + " bytes");
    }
  }
  void NonNegative(const std::string& field, Duration d) {
    if (d.count() < 0) Fail(field, "must not be negative");
  }
  void Positive(const std::string& field, Duration d) {
    if (d.count() <= 0) Fail(field, "must be longer than 0s");
  }

 private:
  std::vector<FieldError>* errors_;
};

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 characters.
bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// DNS-1123 subdomain: lowercase labels joined by '.', at most 253 characters.
bool IsDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view label =
        s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    // Subdomain labels have no 63-character limit of their own in IsDNS1123Subdomain.
    if (label.empty()) return false;
    auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_alnum(label.front()) || !lower_alnum(label.back())) return false;
    if (!std::all_of(label.begin(), label.end(),
                     [&](char c) { return lower_alnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

void CheckSelector(Checker& c, const std::string& path, const LabelSelector& s) {
  if (s.match_labels.size() > 64) {
    c.Fail(path + ".matchLabels",
           "Too many: " + std::to_string(s.match_labels.size()) + ": must have at most 64 items");
  }
  bool bad_key = false;
  bool bad_value = false;
  for (const auto& [key, value] : s.match_labels) {
    bad_key = bad_key || !IsQualifiedName(key);
    bad_value = bad_value || !IsLabelValue(value);
  }
  if (bad_key) {
    c.Fail(path + ".matchLabels",
           "keys must be valid label keys: an optional DNS subdomain prefix and '/', then a name "
           "of at most 63 characters (alphanumerics, '-', '_', '.')");
  }
  if (bad_value) {
    c.Fail(path + ".matchLabels",
           "values must be valid label values: at most 63 characters, alphanumerics, '-', '_', "
           "'.', beginning and ending with an alphanumeric");
  }
  c.MaxItems(path + ".matchExpressions", s.match_expressions.size(), 32);
  for (size_t i = 0; i < s.match_expressions.size(); ++i) {
    const LabelSelectorRequirement& req = s.match_expressions[i];
    const std::string rp = path + ".matchExpressions[" + std::to_string(i) + "]";
    const bool needs_values = req.op == SelectorOperator::kIn || req.op == SelectorOperator::kNotIn;
    if (needs_values == req.values.empty()) {
      c.Fail(rp,
             "values must be non-empty when operator is In or NotIn, and empty when operator is "
             "Exists or DoesNotExist");
    }
    if (!IsQualifiedName(req.key)) {
      c.Fail(rp,
             "key must be a valid label key: an optional DNS subdomain prefix and '/', then a name "
             "of at most 63 characters (alphanumerics, '-', '_', '.')");
    }
    c.MaxItems(rp + ".values", req.values.size(), 64);
    for (size_t v = 0; v < req.values.size(); ++v) {
      c.MaxLength(rp + ".values[" + std::to_string(v) + "]", req.values[v], 63);
    }
  }
}

void CheckIntOrPercent(Checker& c, const std::string& field, const IntOrPercent& v,
                       int64_t max_percent, const char* message) {
  if (v.value < 0 || (v.percent && v.value > max_percent)) {
    c.Fail(field, message);
  } else if (!v.percent && v.value > kMaxIntOrPercentCount) {
    c.Fail(field, "must be at most 2147483647");
  }
}

void CheckPodDensity(Checker& c, const PodDensitySpec& d) {
  const std::string p = "spec.podDensity";
  if (d.max_pods) c.Range(p + ".maxPods", *d.max_pods, 1, 1000);
  if (d.max_pods_per_core) c.Range(p + ".maxPodsPerCore", *d.max_pods_per_core, 1, 1000);
  CheckIntOrPercent(c, p + ".releaseBelow", d.release_below, 99,
                    "must be a pod count (0 or more) or a percent of the cap below 100%, such as "
                    "\"90%\"");
  if (!IsQualifiedName(d.taint.key)) {
    c.Fail(p + ".taint.key",
           "must be a valid taint key: an optional DNS subdomain prefix and '/', then a name of at "
           "most 63 characters (alphanumerics, '-', '_', '.')");
  }
  if (!IsLabelValue(d.taint.value)) {
    c.Fail(p + ".taint.value",
           "must be a valid taint value: at most 63 characters, alphanumerics, '-', '_', '.', "
           "beginning and ending with an alphanumeric");
  }
  if (d.taint.effect == kube::TaintEffect::kNoExecute) {
    c.Fail(p + ".taint.effect",
           "NoExecute is not allowed: it would evict the pods already running on the node; use "
           "NoSchedule or PreferNoSchedule");
  }
  c.Range(p + ".taintAhead", d.taint_ahead, 0, 100);
  if (d.enabled && !d.max_pods && !d.max_pods_per_core) {
    c.Fail(p, "set maxPods, maxPodsPerCore or both: an enabled podDensity needs a cap");
  }
  // Cross-field rules compare only fields that are valid on their own, as the
  // CRD's rules do: an out-of-range maxPods (or taintAhead, or releaseBelow)
  // is reported once, by its own rule, not again by every rule that reads it.
  const bool max_pods_valid = d.max_pods && *d.max_pods >= 1 && *d.max_pods <= 1000;
  const bool taint_ahead_valid = d.taint_ahead >= 0 && d.taint_ahead <= 100;
  const bool release_count_valid = !d.release_below.percent && d.release_below.value >= 0 &&
                                   d.release_below.value <= kMaxIntOrPercentCount;
  if (max_pods_valid && release_count_valid) {
    if (d.release_below.value >= *d.max_pods) {
      c.Fail(p + ".releaseBelow",
             "releaseBelow must be below maxPods (the cap), so the taint is removed only after the "
             "node has room again");
    }
    if (taint_ahead_valid && d.taint_ahead != 0 &&
        d.release_below.value > *d.max_pods - d.taint_ahead) {
      c.Fail(p + ".releaseBelow",
             "releaseBelow must not exceed maxPods minus taintAhead (the count at which the taint "
             "is added), or the taint would flap");
    }
  }
  if (max_pods_valid && taint_ahead_valid && d.taint_ahead >= *d.max_pods) {
    c.Fail(p + ".taintAhead", "taintAhead must be below maxPods");
  }
}

void CheckEarlyWarning(Checker& c, const EarlyWarningSpec& e) {
  if (!e.present) return;
  const std::string p = "spec.earlyWarning";
  c.Positive(p + ".degradedRelistP99", e.degraded_relist_p99);
  c.Positive(p + ".calmRelistP99", e.calm_relist_p99);
  c.Positive(p + ".criticalLastRelistAge", e.critical_last_relist_age);
  c.Positive(p + ".calmLastRelistAge", e.calm_last_relist_age);
  c.NonNegative(p + ".hold", e.hold);
  // As in CheckPodDensity: cross-field rules compare only values valid on their own.
  if (e.calm_relist_p99.count() > 0 && e.degraded_relist_p99.count() > 0 &&
      e.calm_relist_p99 >= e.degraded_relist_p99) {
    c.Fail(p + ".calmRelistP99",
           "calmRelistP99 must be below degradedRelistP99: a node recovers only once its relist "
           "is clearly faster than the mark that made it Degraded");
  }
  if (e.calm_last_relist_age.count() > 0 && e.critical_last_relist_age.count() > 0 &&
      e.calm_last_relist_age >= e.critical_last_relist_age) {
    c.Fail(p + ".calmLastRelistAge",
           "calmLastRelistAge must be below criticalLastRelistAge: a node leaves Critical only "
           "once its last relist is clearly more recent than the mark that made it Critical");
  }
  if (e.adaptive_cap) {
    const IntOrPercent& r = e.adaptive_cap->reduce_by;
    if (r.value < 1 || (r.percent && r.value > 99) || (!r.percent && r.value > 1000)) {
      c.Fail(p + ".adaptiveCap.reduceBy",
             "must be a pod count from 1 to 1000 or a percent of the cap from 1% to 99%, such as "
             "\"20%\"");
    }
  }
}

// metav1.Condition's type pattern:
// ^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$
bool IsConditionType(std::string_view s) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) {
    return !s.empty() && IsAlnum(s.front()) && IsAlnum(s.back()) &&
           std::all_of(s.begin(), s.end(),
                       [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
  }
  return IsDns1123Subdomain(s.substr(0, slash)) && IsConditionType(s.substr(slash + 1)) &&
         s.substr(slash + 1).find('/') == std::string_view::npos;
}

void CheckHealth(Checker& c, const HealthSpec& h) {
  const std::string p = "spec.health.unhealthyConditions";
  if (h.unhealthy_conditions.empty()) c.Fail(p, "should have at least 1 items");
  c.MaxItems(p, h.unhealthy_conditions.size(), 16);
  for (size_t i = 0; i < h.unhealthy_conditions.size(); ++i) {
    const UnhealthyCondition& u = h.unhealthy_conditions[i];
    const std::string ip = p + "[" + std::to_string(i) + "]";
    if (u.type.empty() || u.type.size() > 316 || !IsConditionType(u.type)) {
      c.Fail(ip + ".type",
             "must be a condition type such as Ready, or a domain-prefixed type "
             "(example.com/KernelDeadlock), at most 316 characters");
    }
    c.MaxLength(ip + ".reason", u.reason, 1024);
    c.MaxLength(ip + ".messageRegex", u.message_regex, 1024);
    if (!u.message_regex.empty() && !IsValidMessageRegex(u.message_regex)) {
      c.Fail(ip + ".messageRegex", "must be a valid regular expression");
    }
    c.NonNegative(ip + ".duration", u.duration);
    if (u.type == "Ready" && u.status == kube::ConditionStatus::kTrue) {
      c.Fail(ip, "Ready=True describes a healthy node; use status False or Unknown");
    }
  }
}

void CheckRemediation(Checker& c, const RemediationSpec& m) {
  const std::string p = "spec.remediation";
  c.Range(p + ".maxConcurrent", m.max_concurrent, 1, 100);
  CheckIntOrPercent(c, p + ".maxUnhealthy", m.max_unhealthy, 100,
                    "must be a node count (0 or more) or a percent from 0% to 100%, such as "
                    "\"30%\"");
  c.MaxItems(p + ".actions", m.actions.size(), 4);
  for (size_t i = 0; i < m.actions.size(); ++i) {
    if (std::find(m.actions.begin(), m.actions.begin() + static_cast<std::ptrdiff_t>(i),
                  m.actions[i]) != m.actions.begin() + static_cast<std::ptrdiff_t>(i)) {
      c.Fail(p + ".actions[" + std::to_string(i) + "]",
             std::string("Duplicate value: \"") + RemediationActionName(m.actions[i]) + "\"");
    }
  }
  const auto external = std::find(m.actions.begin(), m.actions.end(), RemediationAction::kExternal);
  if (external != m.actions.end() && m.actions.back() != RemediationAction::kExternal) {
    c.Fail(p + ".actions", "External hands the node to another system and must be the last action");
  }
  c.Positive(p + ".drain.timeout", m.drain.timeout);
  if (m.drain.grace_period_seconds) {
    c.Range(p + ".drain.gracePeriodSeconds", *m.drain.grace_period_seconds, 0, 86400);
  }
  c.NonNegative(p + ".drain.skipWaitForDeleteTimeout", m.drain.skip_wait_for_delete_timeout);
  c.NonNegative(p + ".drain.notReadySkipWaitForDeleteTimeout",
                m.drain.not_ready_skip_wait_for_delete_timeout);
  CheckSelector(c, p + ".drain.podSelector", m.drain.pod_selector);
  c.Positive(p + ".actionTimeout", m.action_timeout);
  c.NonNegative(p + ".recoveryStableFor", m.recovery_stable_for);
  c.NonNegative(p + ".cooldown", m.cooldown);
  c.NonNegative(p + ".holdSlotAfterFailure", m.hold_slot_after_failure);
  c.Range(p + ".maxAttemptsPerNode", m.max_attempts_per_node, 1, 100);
  if (m.enabled && m.max_unhealthy.value == 0) {
    c.Fail(p + ".maxUnhealthy",
           "maxUnhealthy must allow at least one unhealthy node when remediation is enabled, or "
           "every sick node would count as a storm and none would be repaired");
  }
}

void CheckResourceHygiene(Checker& c, const ResourceHygieneSpec& h) {
  const std::string p = "spec.resourceHygiene";
  c.MaxItems(p + ".excludeNamespaces", h.exclude_namespaces.size(), 256);
  std::set<std::string> seen;
  for (size_t i = 0; i < h.exclude_namespaces.size(); ++i) {
    const std::string ip = p + ".excludeNamespaces[" + std::to_string(i) + "]";
    if (!IsDns1123Label(h.exclude_namespaces[i])) {
      c.Fail(ip, "must be a valid namespace name (a DNS-1123 label)");
    }
    if (!seen.insert(h.exclude_namespaces[i]).second) {
      c.Fail(ip, "Duplicate value: \"" + h.exclude_namespaces[i] + "\"");
    }
  }
  if (h.enabled && h.required == 0 && !h.flag_nodes_without_system_reserve) {
    c.Fail(p,
           "an enabled resourceHygiene must check something: require some requests or limits, "
           "or set flagNodesWithoutSystemReserve");
  }
}

}  // namespace

bool IsQualifiedName(std::string_view s) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return IsQualifiedNamePart(s);
  return IsDns1123Subdomain(s.substr(0, slash)) && IsQualifiedNamePart(s.substr(slash + 1));
}

bool IsLabelValue(std::string_view s) { return s.empty() || IsQualifiedNamePart(s); }

bool IsDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return lower_alnum(s.front()) && lower_alnum(s.back()) &&
         std::all_of(s.begin(), s.end(), [&](char c) { return lower_alnum(c) || c == '-'; });
}

bool IsValidMessageRegex(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  return RE2(pattern, options).ok();
}

std::vector<FieldError> Validate(const NodeHealthPolicySpec& spec) {
  std::vector<FieldError> errors;
  Checker c(&errors);
  CheckSelector(c, "spec.nodeSelector", spec.node_selector);
  CheckPodDensity(c, spec.pod_density);
  CheckHealth(c, spec.health);
  CheckRemediation(c, spec.remediation);
  CheckResourceHygiene(c, spec.resource_hygiene);
  CheckEarlyWarning(c, spec.early_warning);
  return errors;
}

std::string JoinFieldErrors(const std::vector<FieldError>& errors, size_t max_errors) {
  std::string out;
  for (size_t i = 0; i < errors.size() && i < max_errors; ++i) {
    if (i > 0) out += "; ";
    out += errors[i].ToString();
  }
  if (errors.size() > max_errors) {
    out += "; and " + std::to_string(errors.size() - max_errors) + " more";
  }
  return out;
}

}  // namespace nodeguard::api
