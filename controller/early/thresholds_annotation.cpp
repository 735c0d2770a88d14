#include "early/thresholds_annotation.h"

#include <nlohmann/json.hpp>

#include "common/duration.h"

namespace nodeguard::early {

namespace {

struct Field {
  const char* name;
  Duration Thresholds::*member;
};

constexpr Field kFields[] = {
    {"degradedRelistP99", &Thresholds::degraded_relist_p99},
    {"calmRelistP99", &Thresholds::calm_relist_p99},
    {"criticalLastRelistAge", &Thresholds::critical_last_seen},
    {"calmLastRelistAge", &Thresholds::calm_last_seen},
    {"hold", &Thresholds::hold},
};

}  // namespace

std::string EncodeThresholds(const PolicyThresholds& t) {
  nlohmann::json out = {{"policy", t.policy}};
  for (const Field& f : kFields) out[f.name] = FormatGoDuration(t.thresholds.*f.member);
  return out.dump();
}

Result<PolicyThresholds> DecodeThresholds(std::string_view json) {
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Error::Invalid("not a JSON object");
  PolicyThresholds out;
  if (auto p = doc.find("policy"); p != doc.end() && p->is_string()) {
    out.policy = p->get<std::string>();
  }
  for (const Field& f : kFields) {
    auto it = doc.find(f.name);
    if (it == doc.end() || !it->is_string()) {
      return Error::Invalid(std::string(f.name) + ": missing or not a duration string");
    }
    auto d = ParseGoDuration(it->get<std::string>());
    if (!d.ok()) return Error::Invalid(std::string(f.name) + ": " + d.error().message);
    out.thresholds.*f.member = *d;
  }
  const Thresholds& t = out.thresholds;
  if (t.degraded_relist_p99.count() <= 0 || t.calm_relist_p99.count() <= 0 ||
      t.critical_last_seen.count() <= 0 || t.calm_last_seen.count() <= 0) {
    return Error::Invalid("every mark must be longer than 0s");
  }
  if (t.hold.count() < 0) return Error::Invalid("hold must not be negative");
  if (t.calm_relist_p99 >= t.degraded_relist_p99) {
    return Error::Invalid("calmRelistP99 must be below degradedRelistP99");
  }
  if (t.calm_last_seen >= t.critical_last_seen) {
    return Error::Invalid("calmLastRelistAge must be below criticalLastRelistAge");
  }
  return out;
}

ChosenThresholds ChooseThresholds(const std::string* annotation, const Thresholds& flags) {
  ChosenThresholds c{flags, "flags", {}};
  if (annotation == nullptr) return c;
  auto decoded = DecodeThresholds(*annotation);
  if (!decoded.ok()) {
    c.error = decoded.error().message;
    return c;
  }
  c.thresholds = decoded->thresholds;
  c.source = "policy " + decoded->policy;
  return c;
}

}  // namespace nodeguard::early
