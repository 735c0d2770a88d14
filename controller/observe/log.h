#pragma once

// Structured logging on top of spdlog. Every line about a node, policy or pod
// carries it as a field, so `grep node=worker-3` or a JSON query finds the
// whole story of one node:
//
//   Log().Info("cordoned", {{"node", node}, {"policy", policy}});
//   // text: 2026-11-27T14:31:39.123456Z info cordoned node=worker-3 policy=default
//   // json: {"ts":"2026-11-27T14:31:39.123456Z","level":"info","msg":"cordoned",
//   //        "node":"worker-3","policy":"default"}
//
//   Logger node_log = Log().With({{"node", node}});  // Fields bound once.
//   node_log.Warn("drain blocked", {{"pod", "ns/web-1"}, {"attempt", 3}});
//
// Plain spdlog calls (spdlog::info(...)) still work and render as a message
// without fields, also in JSON mode.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "common/result.h"

namespace nodeguard::observe {

enum class LogFormat { kText, kJson };

// "text" or "json".
Result<LogFormat> ParseLogFormat(std::string_view text);
// "trace", "debug", "info", "warn" (or "warning"), "error", "off".
Result<spdlog::level::level_enum> ParseLogLevel(std::string_view text);

struct LogOptions {
  std::string level = "info";
  LogFormat format = LogFormat::kText;
};

// Installs the process-wide default logger writing to `sink` (stderr when
// null) with the level and format of options. Call once at startup, before
// other threads log; tests call it with their own sink.
Status SetupLogging(const LogOptions& options, spdlog::sink_ptr sink = nullptr);

// One key/value pair of a log line. Values keep their JSON type.
struct Field {
  using Value = std::variant<std::string, int64_t, double, bool>;

  Field(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  Field(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
  Field(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
  template <typename T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
  Field(std::string k, T v) : key(std::move(k)) {
    if constexpr (std::is_same_v<T, bool>) {
      value = v;
    } else if constexpr (std::is_integral_v<T>) {
      value = static_cast<int64_t>(v);
    } else {
      value = static_cast<double>(v);
    }
  }

  std::string key;
  Value value;
};

// Renders the payload of one line (what follows the timestamp and level),
// exposed for tests.
//   text: `msg key=value key2="needs quoting"`; a value is quoted (JSON
//         string syntax) when empty or when it holds spaces, '=', '"', '\'
//         or control characters.
//   json: `"msg":"...","key":"value","n":3` (a fragment of the line's object);
//         keys that collide with ts/level/msg are prefixed with '_'.
std::string RenderPayload(LogFormat format, std::string_view msg, const std::vector<Field>& bound,
                          std::initializer_list<Field> fields);

// A cheap handle on the default logger plus fields bound with With().
// Thread-safe (it is immutable).
class Logger {
 public:
  Logger() = default;

  // A logger carrying these fields on every line, after any already bound.
  Logger With(std::initializer_list<Field> fields) const;

  void Trace(std::string_view msg, std::initializer_list<Field> fields = {}) const {
    Write(spdlog::level::trace, msg, fields);
  }
  void Debug(std::string_view msg, std::initializer_list<Field> fields = {}) const {
    Write(spdlog::level::debug, msg, fields);
  }
  void Info(std::string_view msg, std::initializer_list<Field> fields = {}) const {
    Write(spdlog::level::info, msg, fields);
  }
  void Warn(std::string_view msg, std::initializer_list<Field> fields = {}) const {
    Write(spdlog::level::warn, msg, fields);
  }
  void Error(std::string_view msg, std::initializer_list<Field> fields = {}) const {
    Write(spdlog::level::err, msg, fields);
  }
  void Write(spdlog::level::level_enum level, std::string_view msg,
             std::initializer_list<Field> fields) const;

  const std::vector<Field>& bound() const { return bound_; }

 private:
  std::vector<Field> bound_;
};

// The process logger, without bound fields.
inline Logger Log() { return Logger(); }

}  // namespace nodeguard::observe
