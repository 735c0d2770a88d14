#pragma once

// The observability endpoints both modes serve, set up in one place: /metrics
// on --metrics-bind-address and the probes on --health-probe-bind-address
// (observe/endpoints.h). Each mode adds its own checks to the probes; what
// they share is here: /healthz answers "ping" as long as the process serves
// HTTP, and a listener that cannot start is logged and ends the mode (exit 2).

#include <memory>
#include <string>

#include "observe/endpoints.h"
#include "observe/health.h"
#include "observe/log.h"
#include "observe/metrics.h"

namespace nodeguard::process {

// /healthz (with its "ping" check) and /readyz (empty): the mode adds the rest.
struct Probes {
  Probes();
  observe::HealthChecks healthz{"healthz"};
  observe::HealthChecks readyz{"readyz"};
};

// Starts the listeners; on failure logs "cannot serve metrics/probes" with the
// error to `log` (the mode's logger) and returns null.
// REQUIRES: metrics and probes outlive the result.
std::unique_ptr<observe::Endpoints> ServeEndpoints(
    const std::string& metrics_address, const std::string& probe_address,
    const observe::MetricsRegistry& metrics, const Probes& probes, const observe::Logger& log,
    const observe::HttpServerFactory& factory = observe::NewCppRestHttpServer);

}  // namespace nodeguard::process
