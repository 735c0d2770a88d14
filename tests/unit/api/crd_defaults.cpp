#include "crd_defaults.h"

#include "yaml_json.h"

namespace nodeguard::api::testing {

const nlohmann::json& CrdSchema() {
  static const nlohmann::json schema = [] {
    auto docs = YamlFileToJson(SourceDir() + "/crds/nodeguard.io_nodehealthpolicies.yaml");
    return docs.at(0).at("spec").at("versions").at(0).at("schema").at("openAPIV3Schema");
  }();
  return schema;
}

const nlohmann::json& SpecSchema() { return CrdSchema().at("properties").at("spec"); }

nlohmann::json ApplyDefaults(nlohmann::json value, const nlohmann::json& schema) {
  if (value.is_object() && schema.contains("properties")) {
    for (const auto& [name, prop] : schema.at("properties").items()) {
      if (!value.contains(name) && prop.contains("default")) value[name] = prop.at("default");
    }
    for (auto& [name, item] : value.items()) {
      if (schema.at("properties").contains(name)) {
        item = ApplyDefaults(item, schema.at("properties").at(name));
      }
    }
  } else if (value.is_array() && schema.contains("items")) {
    for (auto& item : value) item = ApplyDefaults(item, schema.at("items"));
  }
  return value;
}

}  // namespace nodeguard::api::testing
