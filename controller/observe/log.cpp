#include "observe/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "common/time.h"

namespace nodeguard::observe {

namespace {

// Marks a payload Logger already rendered as a JSON fragment; any other
// payload (a plain spdlog call) is a bare message to escape.
constexpr char kFragmentMarker = '\x1e';

// The format SetupLogging installed; Logger renders payloads for it.
std::atomic<LogFormat> g_format{LogFormat::kText};

std::string JsonString(std::string_view text) {
  // Replace invalid UTF-8 rather than throw: a log line must never fail.
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string JsonValue(const Field::Value& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return JsonString(v);
        } else {
          return nlohmann::json(v).dump();  // NaN and infinities become null.
        }
      },
      value);
}

bool NeedsQuoting(std::string_view value) {
  if (value.empty()) return true;
  for (unsigned char c : value) {
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

std::string TextValue(const Field::Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    return NeedsQuoting(*s) ? JsonString(*s) : *s;
  }
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  return JsonValue(value);
}

bool IsReservedKey(std::string_view key) { return key == "ts" || key == "level" || key == "msg"; }

void AppendField(std::string& out, LogFormat format, const Field& field) {
  if (format == LogFormat::kJson) {
    out += ',';
    out += JsonString(IsReservedKey(field.key) ? "_" + field.key : field.key);
    out += ':';
    out += JsonValue(field.value);
  } else {
    out += ' ';
    out += field.key;
    out += '=';
    out += TextValue(field.value);
  }
}

// {"ts":"...","level":"info","msg":"...",<fields>}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string line = "{\"ts\":\"" + FormatRfc3339Micro(msg.time) + "\",\"level\":";
    auto level = spdlog::level::to_string_view(msg.level);
    line += JsonString(std::string_view(level.data(), level.size()));
    line += ',';
    if (!payload.empty() && payload.front() == kFragmentMarker) {
      line.append(payload.substr(1));
    } else {
      line += "\"msg\":" + JsonString(payload);
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

Result<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return Error::Invalid("log format \"" + std::string(text) + "\": want text or json");
}

Result<spdlog::level::level_enum> ParseLogLevel(std::string_view text) {
  if (text == "trace") return spdlog::level::trace;
  if (text == "debug") return spdlog::level::debug;
  if (text == "info") return spdlog::level::info;
  if (text == "warn" || text == "warning") return spdlog::level::warn;
  if (text == "error") return spdlog::level::err;
  if (text == "off") return spdlog::level::off;
  return Error::Invalid("log level \"" + std::string(text) +
                        "\": want trace, debug, info, warn, error or off");
}

Status SetupLogging(const LogOptions& options, spdlog::sink_ptr sink) {
  auto level = ParseLogLevel(options.level);
  if (!level.ok()) return level.error();
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("nodeguard", std::move(sink));
  if (options.format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc));
  }
  logger->set_level(*level);
  logger->flush_on(spdlog::level::warn);
  g_format.store(options.format);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

std::string RenderPayload(LogFormat format, std::string_view msg, const std::vector<Field>& bound,
                          std::initializer_list<Field> fields) {
  std::string out;
  if (format == LogFormat::kJson) {
    out += "\"msg\":" + JsonString(msg);
  } else {
    out += msg;
  }
  for (const Field& field : bound) AppendField(out, format, field);
  for (const Field& field : fields) AppendField(out, format, field);
  return out;
}

Logger Logger::With(std::initializer_list<Field> fields) const {
  Logger out = *this;
  out.bound_.insert(out.bound_.end(), fields.begin(), fields.end());
  return out;
}

void Logger::Write(spdlog::level::level_enum level, std::string_view msg,
                   std::initializer_list<Field> fields) const {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (logger == nullptr || !logger->should_log(level)) return;
  const LogFormat format = g_format.load();
  std::string payload;
  if (format == LogFormat::kJson) payload += kFragmentMarker;
  payload += RenderPayload(format, msg, bound_, fields);
  logger->log(level, spdlog::string_view_t(payload.data(), payload.size()));
}

}  // namespace nodeguard::observe
