#pragma once

// The process's observability listeners: /metrics on one address, /healthz
// and /readyz on another (as kubebuilder operators do: --metrics-bind-address,
// --health-probe-bind-address), or all three on one when the addresses match.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "observe/health.h"
#include "observe/http_server.h"
#include "observe/metrics.h"

namespace nodeguard::observe {

struct EndpointsOptions {
  std::string metrics_address = ":8080";  // "" or "0" disables /metrics.
  std::string probe_address = ":8081";    // "" or "0" disables the probes.
};

using HttpServerFactory = std::function<std::unique_ptr<HttpServer>(std::string address)>;

// Owns the running listeners; stops them when destroyed.
// REQUIRES: registry, healthz and readyz outlive this object.
class Endpoints {
 public:
  static Result<std::unique_ptr<Endpoints>> Start(
      const EndpointsOptions& options, const MetricsRegistry& registry, const HealthChecks& healthz,
      const HealthChecks& readyz, const HttpServerFactory& factory = NewCppRestHttpServer);

  ~Endpoints() { Stop(); }
  void Stop();

  // One per distinct enabled address.
  size_t listener_count() const { return servers_.size(); }

 private:
  Endpoints() = default;
  std::vector<std::unique_ptr<HttpServer>> servers_;
};

}  // namespace nodeguard::observe
