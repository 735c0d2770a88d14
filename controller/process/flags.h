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

// Destinations of the client-side rate limit flags. REQUIRES: non-null, outlive the parse.
struct ApiClientFlags {
  double* qps;
  int* burst;
};

// --kube-api-qps and --kube-api-burst (NODEGUARD_KUBE_API_QPS,
// NODEGUARD_KUBE_API_BURST): the token bucket every request to the API server
// goes through (kube/rest.h). The current values of the destinations are the
// mode's defaults, shown in --help; `defaults_why` is appended to the help of
// --kube-api-qps. A value out of range is a CLI::ValidationError naming the
// flag and saying what is allowed (ValidateApiClientLimits).
void AddApiClientFlags(CLI::App& app, const ApiClientFlags& flags, const std::string& defaults_why);

// "" when qps > 0 (and finite) and burst >= 1; else what is wrong, naming the flag.
std::string ValidateApiClientLimits(double qps, int burst);

}  // namespace nodeguard::process
