#pragma once

// The flags every nodeguard process mode shares, so `--help` of the
// controller and of the agent say the same thing about them.

#include <string>

namespace CLI {
class App;
}

namespace nodeguard::process {

// Destinations of the shared flags; each points into a mode's own options.
// REQUIRES: every pointer is non-null and outlives the parse.
struct ObservabilityFlags {
  std::string* metrics_bind_address;
  std::string* health_probe_bind_address;
  std::string* log_level;
  std::string* log_format;
};

// --metrics-bind-address, --health-probe-bind-address, --log-level and
// --log-format, each with its NODEGUARD_* environment variable; the current
// values of the destinations are the defaults shown in --help.
void AddObservabilityFlags(CLI::App& app, const ObservabilityFlags& flags);

}  // namespace nodeguard::process
