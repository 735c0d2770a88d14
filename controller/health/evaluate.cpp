#include "health/evaluate.h"

#include <re2/re2.h>

#include <string>

#include "common/text.h"

namespace nodeguard::health {

Result<HealthRules> HealthRules::Compile(const std::vector<api::UnhealthyCondition>& rules) {
  HealthRules compiled;
  compiled.rules_.reserve(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    Rule rule{rules[i], nullptr};
    if (!rule.spec.message_regex.empty()) {
      RE2::Options options;
      options.set_log_errors(false);  // Reported below, not on stderr.
      auto regex = std::make_shared<const RE2>(rule.spec.message_regex, options);
      if (!regex->ok()) {
        return Error::Invalid("health.unhealthyConditions[" + std::to_string(i) +
                              "].messageRegex \"" + rule.spec.message_regex +
                              "\" is not a valid RE2 regular expression: " + regex->error());
      }
      rule.message = std::move(regex);
    }
    compiled.rules_.push_back(std::move(rule));
  }
  return compiled;
}

bool HealthRules::Matches(size_t i, const kube::NodeCondition& condition) const {
  const Rule& rule = rules_[i];
  if (condition.type != rule.spec.type || condition.status != rule.spec.status) return false;
  if (!rule.spec.reason.empty() && condition.reason != rule.spec.reason) return false;
  if (rule.message) {
    const std::string_view searched = Utf8Prefix(condition.message, kMaxSearchedMessageBytes);
    return RE2::PartialMatch(re2::StringPiece(searched.data(), searched.size()), *rule.message);
  }
  return true;
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kHealthy:
      return "Healthy";
    case Verdict::kPending:
      return "Pending";
    case Verdict::kUnhealthy:
      return "Unhealthy";
  }
  return "Healthy";
}

std::string NodeHealth::Describe(WallTime now) const {
  if (verdict == Verdict::kHealthy) return "healthy";
  std::string out = condition.type.str() + "=" + kube::ConditionStatusName(condition.status);
  const auto held = std::chrono::duration_cast<std::chrono::seconds>(now - since);
  out += " for " + FormatGoDuration(held);
  if (verdict == Verdict::kPending) {
    out += " (rule " + std::to_string(rule_index) + " needs " +
           FormatGoDuration(std::chrono::duration_cast<std::chrono::seconds>(remaining)) + " more)";
  } else {
    out += " (rule " + std::to_string(rule_index) + ")";
  }
  if (!condition.reason.empty()) out += " " + condition.reason.str();
  if (!condition.message.empty()) {
    out += ": ";
    out += TruncateUtf8(condition.message, kMaxDescribedMessageBytes);
  }
  return out;
}

namespace {

// The matched condition as NodeHealth keeps it (see its comment).
kube::NodeCondition Matched(const kube::NodeCondition& c) {
  kube::NodeCondition out;
  out.type = c.type;
  out.status = c.status;
  out.reason = c.reason;
  out.message = std::string(Utf8Prefix(c.message, kMaxSearchedMessageBytes));
  out.last_transition_time = c.last_transition_time;
  out.last_heartbeat_time = c.last_heartbeat_time;
  return out;
}

}  // namespace

NodeHealth Evaluate(const kube::Node& node, const HealthRules& rules, WallTime now) {
  NodeHealth health;
  health.excluded = IsExcluded(node);
  if (const kube::NodeCondition* ready = node.FindCondition("Ready")) {
    health.pleg = ClassifyReadyMessage(ready->message);
  }

  bool have_unhealthy = false;
  bool have_pending = false;
  for (size_t i = 0; i < rules.size(); ++i) {
    const Duration required = rules.rule(i).duration;
    for (const kube::NodeCondition& condition : node.conditions) {
      if (!rules.Matches(i, condition)) continue;
      const WallTime since =
          kube::IsSet(condition.last_transition_time) ? condition.last_transition_time : now;
      const Duration held = now - since;
      const int index = static_cast<int>(i);
      if (held >= required) {
        // Longest-standing elapsed match wins; ties keep the lower rule index.
        if (!have_unhealthy || since < health.since) {
          have_unhealthy = true;
          health.verdict = Verdict::kUnhealthy;
          health.rule_index = index;
          health.condition = Matched(condition);
          health.since = since;
          health.remaining = Duration(0);
        }
      } else if (!have_unhealthy) {
        const Duration remaining = required - held;
        if (!have_pending || remaining < health.remaining) {
          have_pending = true;
          health.verdict = Verdict::kPending;
          health.rule_index = index;
          health.condition = Matched(condition);
          health.since = since;
          health.remaining = remaining;
        }
      }
    }
  }
  return health;
}

std::optional<WallTime> ReadySince(const kube::Node& node) {
  const kube::NodeCondition* ready = node.FindCondition("Ready");
  if (ready == nullptr || ready->status != kube::ConditionStatus::kTrue) return std::nullopt;
  return ready->last_transition_time;
}

bool IsExcluded(const kube::Node& node) {
  const std::string* value = node.labels.Find(kExcludeLabel);
  return value != nullptr && *value == "true";
}

}  // namespace nodeguard::health
