#include "api/decode.h"

#include <limits>
#include <string>

#include "api/validate.h"
#include "common/time.h"

namespace nodeguard::api {
namespace {

using nlohmann::json;

// Decoding context: the path of the value being read and where problems go.
class Reader {
 public:
  Reader(std::string path, std::vector<FieldError>* errors)
      : path_(std::move(path)), errors_(errors) {}

  Reader Child(std::string_view name) const {
    return Reader(path_ + "." + std::string(name), errors_);
  }
  Reader Index(size_t i) const { return Reader(path_ + "[" + std::to_string(i) + "]", errors_); }
  void Fail(std::string message) const { errors_->push_back({path_, std::move(message)}); }
  size_t ErrorCount() const { return errors_->size(); }

 private:
  std::string path_;
  std::vector<FieldError>* errors_;
};

// The member `name` of object `j`, or nullptr when absent or null (the API
// server drops nulls from objects it stores; treat them as absent).
const json* Member(const json& j, std::string_view name) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string TypeName(const json& j) {
  switch (j.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    default:
      return "null";
  }
}

// Each Read* leaves *out unchanged when the member is absent or invalid.

void ReadBool(const json& obj, std::string_view name, const Reader& r, bool* out) {
  const json* v = Member(obj, name);
  if (v == nullptr) return;
  if (!v->is_boolean()) return r.Child(name).Fail("must be a boolean, not " + TypeName(*v));
  *out = v->get<bool>();
}

bool ReadInt64Value(const json& v, const Reader& r, int64_t* out) {
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      r.Fail("must be an integer within int64");
      return false;
    }
    *out = static_cast<int64_t>(v.get<uint64_t>());
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // YAML-to-JSON converters and some clients write 70.0; accept integral values.
    if (d >= -9.0e18 && d <= 9.0e18 && static_cast<double>(static_cast<int64_t>(d)) == d) {
      *out = static_cast<int64_t>(d);
      return true;
    }
  }
  r.Fail("must be an integer, not " + TypeName(v));
  return false;
}

void ReadInt64(const json& obj, std::string_view name, const Reader& r, int64_t* out) {
  const json* v = Member(obj, name);
  if (v == nullptr) return;
  ReadInt64Value(*v, r.Child(name), out);
}

void ReadInt32(const json& obj, std::string_view name, const Reader& r, int32_t* out) {
  const json* v = Member(obj, name);
  if (v == nullptr) return;
  int64_t wide = 0;
  if (!ReadInt64Value(*v, r.Child(name), &wide)) return;
  if (wide < std::numeric_limits<int32_t>::min() || wide > std::numeric_limits<int32_t>::max()) {
    return r.Child(name).Fail("must be an integer within int32");
  }
  *out = static_cast<int32_t>(wide);
}

void ReadOptionalInt32(const json& obj, std::string_view name, const Reader& r,
                       std::optional<int32_t>* out) {
  if (Member(obj, name) == nullptr) return;
  int32_t value = 0;
  const size_t before = r.ErrorCount();
  ReadInt32(obj, name, r, &value);
  if (r.ErrorCount() == before) *out = value;
}

void ReadString(const json& obj, std::string_view name, const Reader& r, std::string* out) {
  const json* v = Member(obj, name);
  if (v == nullptr) return;
  if (!v->is_string()) return r.Child(name).Fail("must be a string, not " + TypeName(*v));
  *out = v->get<std::string>();
}

void ReadDuration(const json& obj, std::string_view name, const Reader& r, Duration* out) {
  const json* v = Member(obj, name);
  if (v == nullptr) return;
  if (!v->is_string()) {
    return r.Child(name).Fail("must be a duration string such as \"5m\", not " + TypeName(*v));
  }
  auto d = ParseApiDuration(v->get<std::string>());
  if (!d.ok()) return r.Child(name).Fail(d.error().message);
  *out = *d;
}

void ReadTime(const json& obj, std::string_view name, const Reader& r, kube::Time* out) {
  const json* v = Member(obj, name);
  if (v == nullptr) return;
  if (!v->is_string()) return r.Child(name).Fail("must be an RFC 3339 time, not " + TypeName(*v));
  auto t = ParseRfc3339(v->get<std::string>());
  if (!t.ok()) return r.Child(name).Fail(t.error().message);
  *out = *t;
}

// `invalid` is the CRD rule's message for this field, so both report alike.
void ReadIntOrPercent(const json& obj, std::string_view name, const Reader& r, const char* invalid,
                      IntOrPercent* out) {
  const json* v = Member(obj, name);
  if (v == nullptr) return;
  const Reader field = r.Child(name);
  if (v->is_string()) {
    const std::string s = v->get<std::string>();
    // intstr: a string is always a percent; a count is written as an integer.
    auto parsed = ParseIntOrPercent(s);
    if (s.empty() || s.back() != '%' || !parsed.ok()) return field.Fail(invalid);
    *out = *parsed;
    return;
  }
  if (!v->is_number()) return field.Fail(invalid);
  int64_t count = 0;
  if (!ReadInt64Value(*v, field, &count)) return;
  *out = IntOrPercent::Count(count);
}

// Calls fn(item, reader) for each element of the array member `name`.
template <typename Fn>
bool ForEach(const json& obj, std::string_view name, const Reader& r, Fn&& fn) {
  const json* v = Member(obj, name);
  if (v == nullptr) return false;
  if (!v->is_array()) {
    r.Child(name).Fail("must be an array, not " + TypeName(*v));
    return false;
  }
  const Reader list = r.Child(name);
  for (size_t i = 0; i < v->size(); ++i) fn((*v)[i], list.Index(i));
  return true;
}

void ReadStringList(const json& obj, std::string_view name, const Reader& r,
                    std::vector<std::string>* out) {
  std::vector<std::string> items;
  const bool present = ForEach(obj, name, r, [&](const json& item, const Reader& ir) {
    if (!item.is_string()) return ir.Fail("must be a string, not " + TypeName(item));
    items.push_back(item.get<std::string>());
  });
  if (present) *out = std::move(items);
}

// An object member, or nullptr when absent; reports a non-object.
const json* ReadObject(const json& obj, std::string_view name, const Reader& r) {
  const json* v = Member(obj, name);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) {
    r.Child(name).Fail("must be an object, not " + TypeName(*v));
    return nullptr;
  }
  return v;
}

// `unsupported`, when set, replaces the "Unsupported value" message (for
// fields the CRD checks with a CEL rule instead of an enum).
template <typename Enum, size_t N>
bool ReadEnumValue(const json& v, const Reader& r, const std::pair<const char*, Enum> (&names)[N],
                   Enum* out, const char* unsupported = nullptr) {
  if (!v.is_string()) {
    r.Fail("must be a string, not " + TypeName(v));
    return false;
  }
  const std::string s = v.get<std::string>();
  std::string supported;
  for (const auto& [text, value] : names) {
    if (s == text) {
      *out = value;
      return true;
    }
    supported += std::string(supported.empty() ? "" : ", ") + "\"" + text + "\"";
  }
  r.Fail(unsupported != nullptr
             ? std::string(unsupported)
             : "Unsupported value: \"" + s + "\": supported values: " + supported);
  return false;
}

template <typename Enum, size_t N>
void ReadEnum(const json& obj, std::string_view name, const Reader& r,
              const std::pair<const char*, Enum> (&names)[N], Enum* out) {
  const json* v = Member(obj, name);
  if (v == nullptr) return;
  ReadEnumValue(*v, r.Child(name), names, out);
}

constexpr std::pair<const char*, kube::ConditionStatus> kConditionStatuses[] = {
    {"True", kube::ConditionStatus::kTrue},
    {"False", kube::ConditionStatus::kFalse},
    {"Unknown", kube::ConditionStatus::kUnknown},
};
constexpr std::pair<const char*, SelectorOperator> kOperators[] = {
    {"In", SelectorOperator::kIn},
    {"NotIn", SelectorOperator::kNotIn},
    {"Exists", SelectorOperator::kExists},
    {"DoesNotExist", SelectorOperator::kDoesNotExist},
};
constexpr const char* kReleaseBelowInvalid =
    "must be a pod count (0 or more) or a percent of the cap below 100%, such as \"90%\"";
constexpr const char* kReduceByInvalid =
    "must be a pod count from 1 to 1000 or a percent of the cap from 1% to 99%, such as \"20%\"";
constexpr const char* kMaxUnhealthyInvalid =
    "must be a node count (0 or more) or a percent from 0% to 100%, such as \"30%\"";
constexpr const char* kEffectInvalid = "must be NoSchedule or PreferNoSchedule";
// NoExecute decodes so that Validate can reject it with its reason.
constexpr std::pair<const char*, kube::TaintEffect> kEffects[] = {
    {"NoSchedule", kube::TaintEffect::kNoSchedule},
    {"PreferNoSchedule", kube::TaintEffect::kPreferNoSchedule},
    {"NoExecute", kube::TaintEffect::kNoExecute},
};
constexpr std::pair<const char*, RemediationAction> kActions[] = {
    {"RestartContainerRuntime", RemediationAction::kRestartContainerRuntime},
    {"RestartKubelet", RemediationAction::kRestartKubelet},
    {"Reboot", RemediationAction::kReboot},
    {"External", RemediationAction::kExternal},
};
constexpr std::pair<const char*, RemediationPhase> kPhases[] = {
    {"Cordoning", RemediationPhase::kCordoning},     {"Draining", RemediationPhase::kDraining},
    {"Acting", RemediationPhase::kActing},           {"Verifying", RemediationPhase::kVerifying},
    {"Uncordoning", RemediationPhase::kUncordoning}, {"Succeeded", RemediationPhase::kSucceeded},
    {"Failed", RemediationPhase::kFailed},
};
constexpr std::pair<const char*, RemediationResult> kResults[] = {
    {"Recovered", RemediationResult::kRecovered},
    {"Failed", RemediationResult::kFailed},
    {"TimedOut", RemediationResult::kTimedOut},
    {"Aborted", RemediationResult::kAborted},
};

// ---------------------------------------------------------------- spec

LabelSelector DecodeSelector(const json& j, const Reader& r) {
  LabelSelector s;
  if (const json* labels = ReadObject(j, "matchLabels", r)) {
    const Reader lr = r.Child("matchLabels");
    for (const auto& [key, value] : labels->items()) {
      if (!value.is_string()) {
        lr.Child(key).Fail("must be a string, not " + TypeName(value));
        continue;
      }
      s.match_labels[key] = value.get<std::string>();
    }
  }
  ForEach(j, "matchExpressions", r, [&](const json& item, const Reader& ir) {
    if (!item.is_object()) return ir.Fail("must be an object, not " + TypeName(item));
    LabelSelectorRequirement req;
    if (Member(item, "key") == nullptr) ir.Child("key").Fail("Required value");
    if (Member(item, "operator") == nullptr) ir.Child("operator").Fail("Required value");
    ReadString(item, "key", ir, &req.key);
    ReadEnum(item, "operator", ir, kOperators, &req.op);
    ReadStringList(item, "values", ir, &req.values);
    s.match_expressions.push_back(std::move(req));
  });
  return s;
}

EarlyWarningSpec DecodeEarlyWarning(const json& j, const Reader& r) {
  EarlyWarningSpec e;
  e.present = true;
  ReadDuration(j, "degradedRelistP99", r, &e.degraded_relist_p99);
  ReadDuration(j, "calmRelistP99", r, &e.calm_relist_p99);
  ReadDuration(j, "criticalLastRelistAge", r, &e.critical_last_relist_age);
  ReadDuration(j, "calmLastRelistAge", r, &e.calm_last_relist_age);
  ReadDuration(j, "hold", r, &e.hold);
  if (const json* a = ReadObject(j, "adaptiveCap", r)) {
    AdaptiveCapSpec cap;
    ReadIntOrPercent(*a, "reduceBy", r.Child("adaptiveCap"), kReduceByInvalid, &cap.reduce_by);
    e.adaptive_cap = cap;
  }
  return e;
}

void DecodeSelectorMember(const json& obj, std::string_view name, const Reader& r,
                          LabelSelector* out) {
  if (const json* j = ReadObject(obj, name, r)) *out = DecodeSelector(*j, r.Child(name));
}

PodDensitySpec DecodePodDensity(const json& j, const Reader& r) {
  PodDensitySpec d;
  d.enabled = true;  // The block is present.
  ReadBool(j, "enabled", r, &d.enabled);
  ReadOptionalInt32(j, "maxPods", r, &d.max_pods);
  ReadOptionalInt32(j, "maxPodsPerCore", r, &d.max_pods_per_core);
  ReadIntOrPercent(j, "releaseBelow", r, kReleaseBelowInvalid, &d.release_below);
  if (const json* t = ReadObject(j, "taint", r)) {
    const Reader tr = r.Child("taint");
    ReadString(*t, "key", tr, &d.taint.key);
    ReadString(*t, "value", tr, &d.taint.value);
    if (const json* e = Member(*t, "effect")) {
      if (!ReadEnumValue(*e, tr.Child("effect"), kEffects, &d.taint.effect, kEffectInvalid)) {
        d.taint.effect = kube::TaintEffect::kNoSchedule;
      }
    }
  }
  ReadBool(j, "countDaemonSetPods", r, &d.count_daemon_set_pods);
  ReadInt32(j, "taintAhead", r, &d.taint_ahead);
  ReadBool(j, "evictOverflow", r, &d.evict_overflow);
  return d;
}

HealthSpec DecodeHealth(const json& j, const Reader& r) {
  HealthSpec h;
  std::vector<UnhealthyCondition> rules;
  const bool present =
      ForEach(j, "unhealthyConditions", r, [&](const json& item, const Reader& ir) {
        if (!item.is_object()) return ir.Fail("must be an object, not " + TypeName(item));
        UnhealthyCondition c;
        if (Member(item, "type") == nullptr) ir.Child("type").Fail("Required value");
        if (Member(item, "status") == nullptr) ir.Child("status").Fail("Required value");
        ReadString(item, "type", ir, &c.type);
        ReadEnum(item, "status", ir, kConditionStatuses, &c.status);
        ReadString(item, "reason", ir, &c.reason);
        ReadString(item, "messageRegex", ir, &c.message_regex);
        ReadDuration(item, "duration", ir, &c.duration);
        rules.push_back(std::move(c));
      });
  // Present but empty is kept empty so Validate reports it (minItems 1).
  if (present) h.unhealthy_conditions = std::move(rules);
  return h;
}

RemediationSpec DecodeRemediation(const json& j, const Reader& r) {
  RemediationSpec m;
  m.enabled = true;  // The block is present.
  ReadBool(j, "enabled", r, &m.enabled);
  ReadInt32(j, "maxConcurrent", r, &m.max_concurrent);
  ReadIntOrPercent(j, "maxUnhealthy", r, kMaxUnhealthyInvalid, &m.max_unhealthy);
  ForEach(j, "actions", r, [&](const json& item, const Reader& ir) {
    RemediationAction a{};
    if (ReadEnumValue(item, ir, kActions, &a)) m.actions.push_back(a);
  });
  if (const json* d = ReadObject(j, "drain", r)) {
    const Reader dr = r.Child("drain");
    ReadDuration(*d, "timeout", dr, &m.drain.timeout);
    if (Member(*d, "gracePeriodSeconds") != nullptr) {
      int64_t grace = 0;
      const size_t before = dr.ErrorCount();
      ReadInt64(*d, "gracePeriodSeconds", dr, &grace);
      if (dr.ErrorCount() == before) m.drain.grace_period_seconds = grace;
    }
    ReadBool(*d, "deleteEmptyDirData", dr, &m.drain.delete_empty_dir_data);
    ReadBool(*d, "force", dr, &m.drain.force);
    ReadDuration(*d, "skipWaitForDeleteTimeout", dr, &m.drain.skip_wait_for_delete_timeout);
    ReadDuration(*d, "notReadySkipWaitForDeleteTimeout", dr,
                 &m.drain.not_ready_skip_wait_for_delete_timeout);
    DecodeSelectorMember(*d, "podSelector", dr, &m.drain.pod_selector);
  }
  ReadDuration(j, "actionTimeout", r, &m.action_timeout);
  ReadDuration(j, "recoveryStableFor", r, &m.recovery_stable_for);
  ReadDuration(j, "cooldown", r, &m.cooldown);
  ReadDuration(j, "holdSlotAfterFailure", r, &m.hold_slot_after_failure);
  ReadInt32(j, "maxAttemptsPerNode", r, &m.max_attempts_per_node);
  ReadBool(j, "takeOverCordonedNodes", r, &m.take_over_cordoned_nodes);
  return m;
}

// requiredRequests/requiredLimits: names to kube::ResourceBit flags.
void ReadResources(const json& j, std::string_view name, const Reader& r,
                   const kube::ResourceBit (&bits)[3], uint8_t* required) {
  static constexpr const char* kNames[] = {"cpu", "memory", "ephemeral-storage"};
  uint8_t mask = 0;
  const bool present = ForEach(j, name, r, [&](const json& item, const Reader& ir) {
    if (!item.is_string()) return ir.Fail("must be a string, not " + TypeName(item));
    const std::string s = item.get<std::string>();
    for (int i = 0; i < 3; ++i) {
      if (s == kNames[i]) {
        if ((mask & bits[i]) != 0) return ir.Fail("Duplicate value: \"" + s + "\"");
        mask = static_cast<uint8_t>(mask | bits[i]);
        return;
      }
    }
    ir.Fail("Unsupported value: \"" + s +
            "\": supported values: \"cpu\", \"memory\", \"ephemeral-storage\"");
  });
  if (!present) return;
  const uint8_t all = static_cast<uint8_t>(bits[0] | bits[1] | bits[2]);
  *required = static_cast<uint8_t>((*required & ~all) | mask);
}

ResourceHygieneSpec DecodeResourceHygiene(const json& j, const Reader& r) {
  ResourceHygieneSpec h;
  h.enabled = true;  // The block is present.
  ReadBool(j, "enabled", r, &h.enabled);
  static constexpr kube::ResourceBit kRequests[3] = {kube::kRequestCpu, kube::kRequestMemory,
                                                     kube::kRequestEphemeralStorage};
  static constexpr kube::ResourceBit kLimits[3] = {kube::kLimitCpu, kube::kLimitMemory,
                                                   kube::kLimitEphemeralStorage};
  ReadResources(j, "requiredRequests", r, kRequests, &h.required);
  ReadResources(j, "requiredLimits", r, kLimits, &h.required);
  ReadBool(j, "includeInitContainers", r, &h.include_init_containers);
  ReadStringList(j, "excludeNamespaces", r, &h.exclude_namespaces);
  ReadBool(j, "annotatePods", r, &h.annotate_pods);
  ReadBool(j, "emitEvents", r, &h.emit_events);
  ReadBool(j, "flagNodesWithoutSystemReserve", r, &h.flag_nodes_without_system_reserve);
  return h;
}

// ---------------------------------------------------------------- status

RemediationStatus DecodeRemediationStatus(const json& j, const Reader& r) {
  RemediationStatus s;
  ReadString(j, "node", r, &s.node);
  ReadEnum(j, "phase", r, kPhases, &s.phase);
  if (const json* a = Member(j, "action")) {
    RemediationAction action{};
    if (ReadEnumValue(*a, r.Child("action"), kActions, &action)) s.action = action;
  }
  ReadInt32(j, "attempt", r, &s.attempt);
  ReadTime(j, "startedAt", r, &s.started_at);
  ReadTime(j, "finishedAt", r, &s.finished_at);
  ReadEnum(j, "result", r, kResults, &s.result);
  ReadString(j, "message", r, &s.message);
  return s;
}

template <typename T, typename Fn>
void ReadObjects(const json& obj, std::string_view name, const Reader& r, std::vector<T>* out,
                 Fn&& decode) {
  ForEach(obj, name, r, [&](const json& item, const Reader& ir) {
    if (!item.is_object()) return ir.Fail("must be an object, not " + TypeName(item));
    out->push_back(decode(item, ir));
  });
}

}  // namespace

Result<Duration> ParseApiDuration(std::string_view text) {
  // The CRD's duration rule ^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$ (a CEL
  // rule with this message, crds/generate.py): every number starts with a
  // digit and a '.' has digits after it. ParseGoDuration checks the rest
  // (units, overflow).
  auto malformed = [&] {
    return Error::Invalid("invalid duration \"" + std::string(text) +
                          "\": must be a Go duration such as 90s, 5m or 1h30m, never negative");
  };
  if (text.empty() || text[0] < '0' || text[0] > '9') return malformed();
  for (size_t i = 0; i < text.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (!digit && i > 0 && text[i - 1] == '.') return malformed();
    if (text[i] == '.' && (i == 0 || text[i - 1] < '0' || text[i - 1] > '9')) return malformed();
  }
  if (text.back() >= '0' && text.back() <= '9') return malformed();  // "0", "5": no unit.
  auto d = ParseGoDuration(text);
  if (!d.ok()) return malformed();
  return *d;
}

NodeHealthPolicySpec DecodeSpec(const nlohmann::json& spec, std::vector<FieldError>* errors) {
  NodeHealthPolicySpec s;
  const Reader r("spec", errors);
  if (spec.is_null()) return s;
  if (!spec.is_object()) {
    r.Fail("must be an object, not " + TypeName(spec));
    return s;
  }
  DecodeSelectorMember(spec, "nodeSelector", r, &s.node_selector);
  ReadBool(spec, "paused", r, &s.paused);
  ReadBool(spec, "dryRun", r, &s.dry_run);
  if (const json* j = ReadObject(spec, "podDensity", r)) {
    s.pod_density = DecodePodDensity(*j, r.Child("podDensity"));
  }
  if (const json* j = ReadObject(spec, "health", r)) s.health = DecodeHealth(*j, r.Child("health"));
  if (const json* j = ReadObject(spec, "remediation", r)) {
    s.remediation = DecodeRemediation(*j, r.Child("remediation"));
  }
  if (const json* j = ReadObject(spec, "resourceHygiene", r)) {
    s.resource_hygiene = DecodeResourceHygiene(*j, r.Child("resourceHygiene"));
  }
  if (const json* j = ReadObject(spec, "earlyWarning", r)) {
    s.early_warning = DecodeEarlyWarning(*j, r.Child("earlyWarning"));
  }
  return s;
}

NodeHealthPolicyStatus DecodeStatus(const nlohmann::json& status, std::vector<FieldError>* errors) {
  NodeHealthPolicyStatus s;
  const Reader r("status", errors);
  if (status.is_null()) return s;
  if (!status.is_object()) {
    r.Fail("must be an object, not " + TypeName(status));
    return s;
  }
  ReadInt64(status, "observedGeneration", r, &s.observed_generation);
  ReadObjects(status, "conditions", r, &s.conditions, [](const json& j, const Reader& cr) {
    Condition c;
    ReadString(j, "type", cr, &c.type);
    ReadEnum(j, "status", cr, kConditionStatuses, &c.status);
    ReadInt64(j, "observedGeneration", cr, &c.observed_generation);
    ReadTime(j, "lastTransitionTime", cr, &c.last_transition_time);
    ReadString(j, "reason", cr, &c.reason);
    ReadString(j, "message", cr, &c.message);
    return c;
  });
  ReadInt32(status, "selectedNodes", r, &s.selected_nodes);
  ReadInt32(status, "readyNodes", r, &s.ready_nodes);
  ReadInt32(status, "unhealthyNodes", r, &s.unhealthy_nodes);
  ReadInt32(status, "cappedNodes", r, &s.density_capped_node_count);
  ReadInt32(status, "remediatingNodes", r, &s.remediating_nodes);
  ReadInt64(status, "podsFlagged", r, &s.pods_flagged);
  ReadObjects(status, "remediations", r, &s.remediations, DecodeRemediationStatus);
  ReadObjects(status, "recentRemediations", r, &s.recent_remediations, DecodeRemediationStatus);
  ReadObjects(status, "densityCappedNodes", r, &s.density_capped_nodes,
              [](const json& j, const Reader& nr) {
                DensityCappedNode n;
                ReadString(j, "node", nr, &n.node);
                ReadInt32(j, "pods", nr, &n.pods);
                ReadInt32(j, "cap", nr, &n.cap);
                return n;
              });
  if (const json* h = ReadObject(status, "resourceHygiene", r)) {
    const Reader hr = r.Child("resourceHygiene");
    ReadObjects(*h, "namespaces", hr, &s.resource_hygiene.namespaces,
                [](const json& j, const Reader& nr) {
                  NamespaceFindings n;
                  ReadString(j, "namespace", nr, &n.namespace_);
                  ReadInt32(j, "pods", nr, &n.pods);
                  return n;
                });
    ReadObjects(*h, "examplePods", hr, &s.resource_hygiene.example_pods,
                [](const json& j, const Reader& pr) {
                  FlaggedPod p;
                  ReadString(j, "namespace", pr, &p.namespace_);
                  ReadString(j, "name", pr, &p.name);
                  ReadString(j, "findings", pr, &p.findings);
                  return p;
                });
  }
  ReadStringList(status, "nodesWithoutSystemReserve", r, &s.nodes_without_system_reserve);
  ReadObjects(status, "conflicts", r, &s.conflicts, [](const json& j, const Reader& cr) {
    PolicyConflict c;
    ReadString(j, "node", cr, &c.node);
    ReadString(j, "governedBy", cr, &c.governed_by);
    return c;
  });
  if (const json* e = ReadObject(status, "earlyWarning", r)) {
    const Reader er = r.Child("earlyWarning");
    ReadInt32(*e, "healthy", er, &s.early_warning.healthy);
    ReadInt32(*e, "degraded", er, &s.early_warning.degraded);
    ReadInt32(*e, "critical", er, &s.early_warning.critical);
    ReadInt32(*e, "unknown", er, &s.early_warning.unknown);
  }
  return s;
}

Result<ParsedPolicy> ParsePolicy(const nlohmann::json& object) {
  if (!object.is_object()) {
    return Error::Invalid("a NodeHealthPolicy must be a JSON object, not " + TypeName(object));
  }
  const json* api_version = Member(object, "apiVersion");
  if (api_version != nullptr && *api_version != kApiVersion) {
    return Error::Invalid("not a NodeHealthPolicy: apiVersion is " + api_version->dump());
  }
  const json* kind = Member(object, "kind");
  if (kind != nullptr && *kind != kKind) {
    return Error::Invalid("not a NodeHealthPolicy: kind is " + kind->dump());
  }
  const json* metadata = Member(object, "metadata");
  const json* name = metadata != nullptr ? Member(*metadata, "name") : nullptr;
  if (name == nullptr || !name->is_string() || name->get<std::string>().empty()) {
    return Error::Invalid("a NodeHealthPolicy needs metadata.name");
  }

  ParsedPolicy parsed;
  NodeHealthPolicy& p = parsed.policy;
  const Reader mr("metadata", &parsed.errors);
  p.meta.name = name->get<std::string>();
  std::string uid;
  ReadString(*metadata, "uid", mr, &uid);
  p.meta.uid = uid;
  ReadString(*metadata, "resourceVersion", mr, &p.meta.resource_version);
  ReadInt64(*metadata, "generation", mr, &p.meta.generation);
  ReadTime(*metadata, "creationTimestamp", mr, &p.meta.creation_timestamp);
  ReadTime(*metadata, "deletionTimestamp", mr, &p.meta.deletion_timestamp);

  const json* spec = Member(object, "spec");
  p.spec = DecodeSpec(spec != nullptr ? *spec : json::object(), &parsed.errors);
  // Validate only what decoded: a field that failed to decode holds its
  // default, and reporting rules about that default would only confuse.
  if (parsed.errors.empty()) parsed.errors = Validate(p.spec);

  std::vector<FieldError> status_errors;  // See ParsedPolicy::errors.
  const json* status = Member(object, "status");
  if (status != nullptr) p.status = DecodeStatus(*status, &status_errors);
  return parsed;
}

Result<ParsedPolicy> ParsePolicy(std::string_view json_text) {
  json object = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return Error::Invalid("a NodeHealthPolicy must be valid JSON");
  return ParsePolicy(object);
}

}  // namespace nodeguard::api
