#include "density/taint_record.h"

#include <nlohmann/json.hpp>

namespace nodeguard::density {
namespace {

std::optional<kube::TaintEffect> ParseEffect(std::string_view s) {
  for (kube::TaintEffect e : {kube::TaintEffect::kNoSchedule, kube::TaintEffect::kPreferNoSchedule,
                              kube::TaintEffect::kNoExecute}) {
    if (s == kube::TaintEffectName(e)) return e;
  }
  return std::nullopt;
}

std::optional<size_t> IndexOf(const kube::Node& node, std::string_view key,
                              kube::TaintEffect effect) {
  for (size_t i = 0; i < node.taints.size(); ++i) {
    if (node.taints[i].key == key && node.taints[i].effect == effect) return i;
  }
  return std::nullopt;
}

}  // namespace

std::string EncodeTaintRecord(const TaintRecord& record) {
  // nlohmann::json objects keep their keys sorted: the encoding is canonical.
  nlohmann::json j = {{"policy", record.policy},
                      {"key", record.taint.key},
                      {"effect", kube::TaintEffectName(record.taint.effect)}};
  if (!record.taint.value.empty()) j["value"] = record.taint.value;
  return j.dump();
}

Result<TaintRecord> DecodeTaintRecord(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Error::Invalid(std::string(kTaintRecordAnnotation) + " is not a JSON object");
  }
  auto text_of = [&](const char* name) -> std::optional<std::string> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  TaintRecord r;
  const auto policy = text_of("policy");
  const auto key = text_of("key");
  const auto effect = text_of("effect");
  if (!policy || policy->empty()) {
    return Error::Invalid(std::string(kTaintRecordAnnotation) + " names no policy");
  }
  if (!key || key->empty()) {
    return Error::Invalid(std::string(kTaintRecordAnnotation) + " names no taint key");
  }
  const auto parsed_effect = effect ? ParseEffect(*effect) : std::nullopt;
  if (!parsed_effect) {
    return Error::Invalid(std::string(kTaintRecordAnnotation) + " has no valid effect");
  }
  r.policy = *policy;
  r.taint.key = *key;
  r.taint.effect = *parsed_effect;
  if (j.contains("value")) {
    const auto value = text_of("value");
    if (!value) return Error::Invalid(std::string(kTaintRecordAnnotation) + ": value is not text");
    r.taint.value = *value;
  }
  return r;
}

bool SameTaint(const kube::Taint& a, const kube::Taint& b) {
  return a.key == b.key && a.value == b.value && a.effect == b.effect;
}

OwnTaint FindOwnTaint(const kube::Node& node, const std::vector<LegacyCandidate>& legacy) {
  OwnTaint own;
  if (const std::string* annotation = node.Annotation(kTaintRecordAnnotation)) {
    own.annotation_present = true;
    auto record = DecodeTaintRecord(*annotation);
    if (!record.ok()) {
      own.annotation_error = record.error().message;
      return own;
    }
    own.source = OwnTaint::Source::kRecord;
    own.index = IndexOf(node, record->taint.key, record->taint.effect);
    own.record = std::move(record).value();
    return own;
  }
  for (const LegacyCandidate& c : legacy) {
    const auto i = IndexOf(node, c.taint.key, c.taint.effect);
    if (!i || !SameTaint(node.taints[*i], c.taint)) continue;
    own.source = OwnTaint::Source::kLegacy;
    own.index = i;
    own.record = TaintRecord{c.policy, c.taint};
    own.record->taint.time_added = {};
    return own;
  }
  return own;
}

std::optional<size_t> ForeignTaintWith(const kube::Node& node, const OwnTaint& own,
                                       const kube::Taint& taint) {
  for (size_t i = 0; i < node.taints.size(); ++i) {
    if (own.index && *own.index == i) continue;
    if (node.taints[i].key == taint.key && node.taints[i].effect == taint.effect) return i;
  }
  return std::nullopt;
}

}  // namespace nodeguard::density
