#pragma once

// Small strict readers over nlohmann::json objects for the annotation codecs
// in this folder and remediation/state.cpp. Internal to nodeguard_agentproto and
// nodeguard_remediation.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace nodeguard::agentproto::json_fields {

// Parses text into an object without exceptions.
Result<nlohmann::json> ParseObject(std::string_view text, std::string_view what);

// Each reader returns std::nullopt when the key is absent (or null) and an
// Error when it is present with the wrong type or an unparseable value.
Result<std::optional<std::string>> OptionalString(const nlohmann::json& object,
                                                  std::string_view key, std::string_view what);
Result<std::optional<WallTime>> OptionalTime(const nlohmann::json& object, std::string_view key,
                                             std::string_view what);
Result<std::optional<int64_t>> OptionalInt(const nlohmann::json& object, std::string_view key,
                                           std::string_view what);
Result<std::optional<bool>> OptionalBool(const nlohmann::json& object, std::string_view key,
                                         std::string_view what);

Error Missing(std::string_view key, std::string_view what);

}  // namespace nodeguard::agentproto::json_fields
