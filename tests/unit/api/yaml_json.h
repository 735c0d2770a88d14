#pragma once

// Test helpers: manifests (YAML, possibly several documents) as nlohmann JSON,
// the way kubectl converts them before sending them to the API server.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace nodeguard::api::testing {

// Plain scalars become null, booleans, integers or floats when they read as
// such (YAML 1.2 core schema); quoted scalars stay strings. Empty documents
// are skipped. Throws YAML::Exception on malformed YAML (tests only).
std::vector<nlohmann::json> YamlDocumentsToJson(const std::string& yaml);
std::vector<nlohmann::json> YamlFileToJson(const std::string& path);

std::string ReadFile(const std::string& path);

// The directory holding the repository (for crds/ and manifests/).
std::string SourceDir();

}  // namespace nodeguard::api::testing
