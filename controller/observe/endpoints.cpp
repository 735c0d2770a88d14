#include "observe/endpoints.h"

namespace nodeguard::observe {

namespace {

bool Disabled(const std::string& address) { return address.empty() || address == "0"; }

}  // namespace

Result<std::unique_ptr<Endpoints>> Endpoints::Start(const EndpointsOptions& options,
                                                    const MetricsRegistry& registry,
                                                    const HealthChecks& healthz,
                                                    const HealthChecks& readyz,
                                                    const HttpServerFactory& factory) {
  // Validate both before binding either, so a typo fails fast and whole.
  for (const std::string* address : {&options.metrics_address, &options.probe_address}) {
    if (Disabled(*address)) continue;
    if (auto parsed = ParseListenAddress(*address); !parsed.ok()) return parsed.error();
  }
  std::unique_ptr<Endpoints> endpoints(new Endpoints());
  const bool shared =
      !Disabled(options.metrics_address) && options.metrics_address == options.probe_address;
  if (!Disabled(options.metrics_address)) {
    auto server = factory(options.metrics_address);
    ServeMetrics(*server, registry);
    if (shared) {
      ServeHealth(*server, healthz);
      ServeHealth(*server, readyz);
    }
    endpoints->servers_.push_back(std::move(server));
  }
  if (!shared && !Disabled(options.probe_address)) {
    auto server = factory(options.probe_address);
    ServeHealth(*server, healthz);
    ServeHealth(*server, readyz);
    endpoints->servers_.push_back(std::move(server));
  }
  for (auto& server : endpoints->servers_) {
    if (Status started = server->Start(); !started.ok()) {
      endpoints->Stop();
      return started.error();
    }
  }
  return endpoints;
}

void Endpoints::Stop() {
  for (auto& server : servers_) server->Stop();
}

}  // namespace nodeguard::observe
