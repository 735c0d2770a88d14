#include "process/endpoints.h"

namespace nodeguard::process {

Probes::Probes() {
  healthz.Add("ping", [] { return Status::Ok(); });
}

std::unique_ptr<observe::Endpoints> ServeEndpoints(const std::string& metrics_address,
                                                   const std::string& probe_address,
                                                   const observe::MetricsRegistry& metrics,
                                                   const Probes& probes, const observe::Logger& log,
                                                   const observe::HttpServerFactory& factory) {
  observe::EndpointsOptions options;
  options.metrics_address = metrics_address;
  options.probe_address = probe_address;
  auto endpoints =
      observe::Endpoints::Start(options, metrics, probes.healthz, probes.readyz, factory);
  if (!endpoints.ok()) {
    log.Error("cannot serve metrics/probes", {{"error", endpoints.error().ToString()}});
    return nullptr;
  }
  return std::move(endpoints).value();
}

}  // namespace nodeguard::process
