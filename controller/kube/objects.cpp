#include "kube/objects.h"

#include <algorithm>

namespace nodeguard::kube {

namespace {

// The first label whose key is not less than `key` (by text).
template <typename It>
It LowerBound(It begin, It end, std::string_view key) {
  return std::lower_bound(
      begin, end, key, [](const Labels::Label& l, std::string_view k) { return l.key.view() < k; });
}

}  // namespace

Labels::Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  labels_.reserve(labels.size());
  for (const auto& [key, value] : labels) Set(key, value);
}

const std::string* Labels::Find(std::string_view key) const {
  auto it = LowerBound(labels_.begin(), labels_.end(), key);
  if (it == labels_.end() || it->key != key) return nullptr;
  return &it->value.str();
}

void Labels::Set(std::string_view key, std::string_view value) {
  auto it = LowerBound(labels_.begin(), labels_.end(), key);
  if (it != labels_.end() && it->key == key) {
    it->value = Symbol::Intern(value);
  } else {
    labels_.insert(it, Label{Symbol::Intern(key), Symbol::Intern(value)});
  }
}

bool Labels::Erase(std::string_view key) {
  auto it = LowerBound(labels_.begin(), labels_.end(), key);
  if (it == labels_.end() || it->key != key) return false;
  labels_.erase(it);
  return true;
}

const std::string* FindAnnotation(const Annotations& annotations, std::string_view key) {
  auto it = std::lower_bound(annotations.begin(), annotations.end(), key,
                             [](const auto& kv, std::string_view k) { return kv.first < k; });
  if (it == annotations.end() || it->first != key) return nullptr;
  return &it->second;
}

const char* EarlyWarningLevelName(EarlyWarningLevel l) {
  switch (l) {
    case EarlyWarningLevel::kAbsent:
      return "Absent";
    case EarlyWarningLevel::kHealthy:
      return "Healthy";
    case EarlyWarningLevel::kDegraded:
      return "Degraded";
    case EarlyWarningLevel::kCritical:
      return "Critical";
    case EarlyWarningLevel::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

const char* ConditionStatusName(ConditionStatus s) {
  switch (s) {
    case ConditionStatus::kTrue:
      return "True";
    case ConditionStatus::kFalse:
      return "False";
    case ConditionStatus::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

const char* TaintEffectName(TaintEffect e) {
  switch (e) {
    case TaintEffect::kNoSchedule:
      return "NoSchedule";
    case TaintEffect::kPreferNoSchedule:
      return "PreferNoSchedule";
    case TaintEffect::kNoExecute:
      return "NoExecute";
  }
  return "NoSchedule";
}

const char* PodPhaseName(PodPhase p) {
  switch (p) {
    case PodPhase::kPending:
      return "Pending";
    case PodPhase::kRunning:
      return "Running";
    case PodPhase::kSucceeded:
      return "Succeeded";
    case PodPhase::kFailed:
      return "Failed";
    case PodPhase::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

const char* QosClassName(QosClass q) {
  switch (q) {
    case QosClass::kBestEffort:
      return "BestEffort";
    case QosClass::kBurstable:
      return "Burstable";
    case QosClass::kGuaranteed:
      return "Guaranteed";
    case QosClass::kUnknown:
      return "";
  }
  return "";
}

const NodeCondition* Node::FindCondition(std::string_view type) const {
  for (const auto& c : conditions)
    if (c.type == type) return &c;
  return nullptr;
}

const Taint* Node::FindTaint(std::string_view key, TaintEffect effect) const {
  for (const auto& t : taints)
    if (t.key == key && t.effect == effect) return &t;
  return nullptr;
}

}  // namespace nodeguard::kube
