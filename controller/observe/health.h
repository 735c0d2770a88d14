#pragma once

// Liveness and readiness endpoints in the style of the Kubernetes API server:
//
//   GET /readyz            200 "ok"  |  500 "[+]informers ok\n[-]leader failed: ...\n
//                                           readyz check failed\n"
//   GET /readyz?verbose    200 "[+]informers ok\n[+]leader ok\nreadyz check passed\n"
//   GET /readyz?exclude=leader   skips a check ("[+]leader excluded: ok")
//   GET /readyz/informers  runs one check: 200 "ok" or 500 "internal server error: ..."
//
// Unlike the API server, failure messages are not withheld: the probe port
// is cluster-internal and the reason is what an operator needs.

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "observe/http_server.h"
#include "observe/metrics.h"

namespace nodeguard::observe {

// A check returns Ok when healthy, or an Error whose message says why not.
// Called on a server thread: must be thread-safe and fast (read a flag or a
// timestamp; never call the API server).
using HealthCheck = std::function<Status()>;

// A named list of checks served as one endpoint. Thread-safe.
class HealthChecks {
 public:
  // endpoint: "healthz" or "readyz", used in the summary line.
  explicit HealthChecks(std::string endpoint) : endpoint_(std::move(endpoint)) {}

  // Checks run in the order added. REQUIRES: name is unique, without '/'.
  void Add(std::string name, HealthCheck check);

  // Answers GET /<endpoint>[/<check>][?verbose][&exclude=<check>...].
  HttpServerReply Serve(const HttpServerRequest& request) const;

  const std::string& endpoint() const { return endpoint_; }

 private:
  struct Named {
    std::string name;
    HealthCheck check;
  };
  const std::string endpoint_;
  mutable std::mutex mu_;  // Guards checks_.
  std::vector<Named> checks_;
};

// Registers /metrics on server, rendering registry on each scrape.
void ServeMetrics(HttpServer& server, const MetricsRegistry& registry);
// Registers /<endpoint> and its per-check subpaths on server.
void ServeHealth(HttpServer& server, const HealthChecks& checks);

}  // namespace nodeguard::observe
