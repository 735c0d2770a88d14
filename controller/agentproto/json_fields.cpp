#include "agentproto/json_fields.h"

#include "common/time.h"

namespace nodeguard::agentproto::json_fields {
namespace {

const nlohmann::json* Find(const nlohmann::json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Error WrongType(std::string_view key, std::string_view what, std::string_view want) {
  return Error::Invalid(std::string(what) + ": field \"" + std::string(key) + "\" must be " +
                        std::string(want));
}

}  // namespace

Result<nlohmann::json> ParseObject(std::string_view text, std::string_view what) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Error::Invalid(std::string(what) + ": not valid JSON");
  if (!parsed.is_object()) return Error::Invalid(std::string(what) + ": not a JSON object");
  return parsed;
}

Result<std::optional<std::string>> OptionalString(const nlohmann::json& object,
                                                  std::string_view key, std::string_view what) {
  const nlohmann::json* v = Find(object, key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return WrongType(key, what, "a string");
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::optional<WallTime>> OptionalTime(const nlohmann::json& object, std::string_view key,
                                             std::string_view what) {
  auto text = OptionalString(object, key, what);
  if (!text.ok()) return text.error();
  if (!*text) return std::optional<WallTime>();
  auto parsed = ParseRfc3339(**text);
  if (!parsed.ok()) return WrongType(key, what, "an RFC 3339 time");
  return std::optional<WallTime>(*parsed);
}

Result<std::optional<int64_t>> OptionalInt(const nlohmann::json& object, std::string_view key,
                                           std::string_view what) {
  const nlohmann::json* v = Find(object, key);
  if (v == nullptr) return std::optional<int64_t>();
  if (!v->is_number_integer()) return WrongType(key, what, "an integer");
  return std::optional<int64_t>(v->get<int64_t>());
}

Result<std::optional<bool>> OptionalBool(const nlohmann::json& object, std::string_view key,
                                         std::string_view what) {
  const nlohmann::json* v = Find(object, key);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return WrongType(key, what, "a boolean");
  return std::optional<bool>(v->get<bool>());
}

Error Missing(std::string_view key, std::string_view what) {
  return Error::Invalid(std::string(what) + ": required field \"" + std::string(key) +
                        "\" is missing");
}

}  // namespace nodeguard::agentproto::json_fields
