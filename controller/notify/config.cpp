#include "notify/config.h"

#include <yaml-cpp/yaml.h>

#include <set>

namespace nodeguard::notify {
namespace {

Result<std::string> ScalarField(const YAML::Node& node, const char* key, const std::string& where,
                                bool required) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) {
    if (required) return Error::Invalid(where + key + " is required");
    return std::string();
  }
  if (!v.IsScalar()) return Error::Invalid(where + key + " must be a string");
  return v.Scalar();
}

}  // namespace

Result<NotificationsConfig> ParseNotificationsConfig(std::string_view yaml, bool allow_http) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // The parser's message quotes no content, only a position.
    return Error::Invalid("notifications config is not YAML (line " +
                          std::to_string(e.mark.line + 1) + ")");
  }
  NotificationsConfig out;
  if (!root || root.IsNull()) return out;
  if (!root.IsMap()) return Error::Invalid("notifications config must be a mapping");
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>("");
    if (key != "cluster" && key != "sinks" && key != "densityInterval") {
      return Error::Invalid("notifications config: unknown field \"" + key + "\"");
    }
  }
  auto cluster = ScalarField(root, "cluster", "notifications config: ", false);
  if (!cluster.ok()) return cluster.error();
  out.cluster = *cluster;
  auto interval = ScalarField(root, "densityInterval", "notifications config: ", false);
  if (!interval.ok()) return interval.error();
  if (!interval->empty()) {
    auto d = ParseGoDuration(*interval);
    if (!d.ok() || *d < std::chrono::seconds(1)) {
      return Error::Invalid("notifications config: densityInterval must be a duration >= 1s");
    }
    out.density_interval = *d;
  }
  const YAML::Node sinks = root["sinks"];
  if (sinks && !sinks.IsNull() && !sinks.IsSequence()) {
    return Error::Invalid("notifications config: sinks must be a list");
  }
  std::set<std::string> names;
  for (size_t i = 0; sinks && i < sinks.size(); ++i) {
    const YAML::Node s = sinks[i];
    std::string where = "notifications config: sinks[" + std::to_string(i) + "]: ";
    if (!s.IsMap()) return Error::Invalid(where + "must be a mapping");
    for (const auto& entry : s) {
      const std::string key = entry.first.as<std::string>("");
      if (key != "name" && key != "type" && key != "url" && key != "secret" && key != "kinds") {
        return Error::Invalid(where + "unknown field \"" + key + "\"");
      }
    }
    SinkConfig sink;
    sink.cluster = out.cluster;
    auto name = ScalarField(s, "name", where, true);
    if (!name.ok()) return name.error();
    sink.name = *name;
    where = "notifications config: sink \"" + sink.name + "\": ";
    if (!names.insert(sink.name).second) return Error::Invalid(where + "the name is used twice");
    auto type = ScalarField(s, "type", where, true);
    if (!type.ok()) return type.error();
    auto parsed_type = ParseSinkType(*type);
    if (!parsed_type) {
      return Error::Invalid(where + "type must be dingtalk, slack or webhook, not \"" + *type +
                            "\"");
    }
    sink.type = *parsed_type;
    auto url = ScalarField(s, "url", where, true);
    if (!url.ok()) return url.error();
    sink.url = *url;
    auto secret = ScalarField(s, "secret", where, false);
    if (!secret.ok()) return secret.error();
    sink.secret = *secret;
    const YAML::Node kinds = s["kinds"];
    if (kinds && !kinds.IsNull()) {
      if (!kinds.IsSequence()) return Error::Invalid(where + "kinds must be a list");
      std::vector<std::string> names_of_kinds;
      for (const auto& k : kinds) {
        if (!k.IsScalar()) return Error::Invalid(where + "kinds must be strings");
        names_of_kinds.push_back(k.Scalar());
      }
      auto parsed = ParseKinds(names_of_kinds);
      if (!parsed.ok()) return Error::Invalid(where + parsed.error().message);
      sink.kinds = *parsed;
    }
    if (Status st = ValidateSink(sink, allow_http); !st.ok()) return st.error();
    out.sinks.push_back(std::move(sink));
  }
  return out;
}

}  // namespace nodeguard::notify
