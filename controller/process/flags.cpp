#include "process/flags.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>

namespace nodeguard::process {

void AddObservabilityFlags(CLI::App& app, const ObservabilityFlags& flags) {
  app.add_option("--metrics-bind-address", *flags.metrics_bind_address,
                 "Address of the Prometheus /metrics endpoint (host:port, :port; 0 disables)")
      ->envname("NODEGUARD_METRICS_BIND_ADDRESS")
      ->capture_default_str();
  app.add_option("--health-probe-bind-address", *flags.health_probe_bind_address,
                 "Address of /healthz and /readyz (host:port, :port; 0 disables)")
      ->envname("NODEGUARD_HEALTH_PROBE_BIND_ADDRESS")
      ->capture_default_str();
  app.add_option("--log-level", *flags.log_level, "trace, debug, info, warn or error")
      ->envname("NODEGUARD_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", *flags.log_format, "text or json (one JSON object per line)")
      ->envname("NODEGUARD_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

namespace {

// What is wrong with a value, without the flag's name (CLI11 prefixes it).
constexpr const char* kQpsRule =
    "must be a number greater than 0 (requests per second, e.g. 20 or 0.5)";
constexpr const char* kBurstRule = "must be an integer of at least 1";

bool QpsOk(double qps) { return std::isfinite(qps) && qps > 0; }

}  // namespace

void AddApiClientFlags(CLI::App& app, const ApiClientFlags& flags,
                       const std::string& defaults_why) {
  app.add_option("--kube-api-qps", *flags.qps,
                 "Client-side rate limit: requests per second to the Kubernetes API server "
                 "once a burst of --kube-api-burst is spent. " +
                     defaults_why)
      ->envname("NODEGUARD_KUBE_API_QPS")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            char* end = nullptr;
            const double qps = std::strtod(value.c_str(), &end);
            const bool parsed = end != value.c_str() && *end == '\0';
            return parsed && QpsOk(qps) ? "" : std::string(kQpsRule) + ", got '" + value + "'";
          },
          "> 0"))
      ->capture_default_str();
  app.add_option("--kube-api-burst", *flags.burst,
                 "Client-side rate limit: requests sent at once before --kube-api-qps applies")
      ->envname("NODEGUARD_KUBE_API_BURST")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            char* end = nullptr;
            const long burst = std::strtol(value.c_str(), &end, 10);
            const bool parsed = end != value.c_str() && *end == '\0';
            return parsed && burst >= 1 ? "" : std::string(kBurstRule) + ", got '" + value + "'";
          },
          ">= 1"))
      ->capture_default_str();
}

std::string ValidateApiClientLimits(double qps, int burst) {
  if (!QpsOk(qps)) return std::string("--kube-api-qps ") + kQpsRule;
  if (burst < 1) return std::string("--kube-api-burst ") + kBurstRule;
  return "";
}

}  // namespace nodeguard::process
