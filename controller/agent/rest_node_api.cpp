#include "agent/rest_node_api.h"

#include <nlohmann/json.hpp>

namespace nodeguard::agent {

Result<std::string> ResourceVersionOf(std::string_view object_json) {
  auto parsed = nlohmann::json::parse(object_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Error::Invalid("the API server answered the patch with something other than an object");
  }
  auto metadata = parsed.find("metadata");
  if (metadata == parsed.end() || !metadata->is_object()) return std::string();
  auto version = metadata->find("resourceVersion");
  if (version == metadata->end() || !version->is_string()) return std::string();
  return version->get<std::string>();
}

Result<std::string> RestNodeApi::SetAnnotation(std::string_view node_name, std::string_view key,
                                               std::string_view value,
                                               std::string_view expected_resource_version) {
  auto patched = rest_.Patch(kube::CoreResource("nodes"), node_name, kube::PatchType::kMerge,
                             AnnotationMergePatch(key, value, expected_resource_version));
  if (!patched.ok()) return patched.error();
  return ResourceVersionOf(*patched);
}

}  // namespace nodeguard::agent
