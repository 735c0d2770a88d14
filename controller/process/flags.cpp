#include "process/flags.h"

#include <CLI/CLI.hpp>

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

}  // namespace nodeguard::process
