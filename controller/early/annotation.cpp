#include "early/annotation.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/time.h"

namespace nodeguard::early {

namespace {

double Millis(double seconds) { return std::round(seconds * 1000) / 1000; }

void Put(nlohmann::json& out, const char* key, const std::optional<double>& value) {
  if (value && std::isfinite(*value)) out[key] = Millis(*value);
}

std::optional<double> Number(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

}  // namespace

std::optional<Level> ParseLevel(std::string_view name) {
  for (Level l : {Level::kHealthy, Level::kDegraded, Level::kCritical}) {
    if (name == LevelName(l)) return l;
  }
  return std::nullopt;
}

std::string EncodeEarlyWarning(const EarlyWarningRecord& r) {
  const PlegFigures& f = r.figures;
  nlohmann::json figures = nlohmann::json::object();
  if (f.window_seconds > 0) {
    figures["windowSeconds"] = Millis(f.window_seconds);
    figures["relists"] = f.relists;
  }
  Put(figures, "relistP99Seconds", f.relist_p99_seconds);
  if (f.relist_p99_above_top) figures["relistP99AboveTop"] = true;
  Put(figures, "relistIntervalSeconds", f.relist_interval_seconds);
  Put(figures, "lastRelistAgeSeconds", f.last_seen_age_seconds);
  Put(figures, "scrapePendingSeconds", f.scrape_pending_seconds);
  Put(figures, "discardEvents", f.discard_events);
  Put(figures, "runningPods", f.running_pods);
  Put(figures, "runningContainers", f.running_containers);
  for (const RuntimeOperation& op : f.list_operations) {
    if (op.operation == "list_podsandbox") Put(figures, "listPodSandboxP99Seconds", op.p99_seconds);
    if (op.operation == "list_containers") Put(figures, "listContainersP99Seconds", op.p99_seconds);
  }
  if (f.counter_reset) figures["kubeletRestarted"] = true;
  nlohmann::json out = {{"level", LevelName(r.level)},
                        {"since", FormatRfc3339(r.since)},
                        {"observedAt", FormatRfc3339(r.observed_at)},
                        {"reason", LevelReasonName(r.reason)},
                        {"figures", figures}};
  return out.dump();
}

Result<DecodedEarlyWarning> DecodeEarlyWarning(std::string_view json) {
  auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Error::Invalid(std::string(kEarlyWarningAnnotation) + " is not a JSON object");
  }
  auto text = [&](const char* key) -> std::optional<std::string> {
    auto it = parsed.find(key);
    if (it == parsed.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto level_name = text("level");
  std::optional<Level> level = level_name ? ParseLevel(*level_name) : std::nullopt;
  if (!level) return Error::Invalid(std::string(kEarlyWarningAnnotation) + ": no valid level");
  auto since_text = text("since");
  auto observed_text = text("observedAt");
  if (!since_text || !observed_text) {
    return Error::Invalid(std::string(kEarlyWarningAnnotation) + ": since/observedAt missing");
  }
  auto since = ParseRfc3339(*since_text);
  auto observed = ParseRfc3339(*observed_text);
  if (!since.ok() || !observed.ok()) {
    return Error::Invalid(std::string(kEarlyWarningAnnotation) + ": bad since/observedAt");
  }
  DecodedEarlyWarning d;
  d.level = *level;
  d.since = *since;
  d.published.level = *level;
  d.published.at = *observed;
  auto figures = parsed.find("figures");
  if (figures != parsed.end() && figures->is_object()) {
    d.published.relist_p99_seconds = Number(*figures, "relistP99Seconds");
    d.published.last_seen_age_seconds = Number(*figures, "lastRelistAgeSeconds");
  }
  return d;
}

}  // namespace nodeguard::early
