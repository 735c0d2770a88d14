#pragma once

// Process wiring shared by `nodeguard controller` and `nodeguard agent`:
// logging from the flags, stop signals, the connection to the API server
// (with its request metrics) and the informer gauges. Each mode keeps only
// what is its own (reconcilers, the agent's worker).

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "kube/http.h"
#include "kube/informer.h"
#include "kube/rest.h"
#include "observe/metrics.h"

namespace nodeguard::process {

// Installs the process-wide logger. Errors (kInvalid) name a bad level or
// format; callers print them to stderr, since no logger exists yet.
Status SetupLogging(const std::string& level, const std::string& format);

// Makes SIGTERM and SIGINT request a stop that every StopToken sees.
// Call once at startup, before threads that poll a StopToken start.
void InstallStopSignalHandlers();
// True once SIGTERM or SIGINT arrived.
bool StopRequested();

// Cancelled by a stop signal or by Cancel(), whichever comes first.
// Thread-safe.
class StopToken final : public kube::CancelToken {
 public:
  bool cancelled() const override;
  void Cancel() { flag_.Cancel(); }

 private:
  kube::CancelFlag flag_;
};

// The client-side rate limit of a process's REST clients (--kube-api-qps,
// --kube-api-burst; kube/rest.h).
struct ApiClientLimits {
  double qps = 5;
  int burst = 10;
};

// The REST clients of a process, their transport underneath. Every request is
// counted in nodeguard_api_requests_total{verb,code} and timed in
// nodeguard_api_request_duration_seconds{verb}; the wait for the client-side
// rate limit of each is observed in nodeguard_api_rate_limiter_wait_seconds.
// Two clients share the transport, each with its own token bucket of
// `limits` (kube/rest.h says why): rest() for everything, and lease() for
// leader election only.
class ApiConnection {
 public:
  // Loads the client configuration (explicit kubeconfig path, else
  // $KUBECONFIG, ~/.kube/config, in-cluster) and builds the transport.
  // REQUIRES: metrics outlives the connection; limits.qps > 0.
  static Result<std::unique_ptr<ApiConnection>> Open(const std::string& kubeconfig_path,
                                                     observe::MetricsRegistry& metrics,
                                                     const ApiClientLimits& limits);

  // REQUIRES: http is non-null.
  ApiConnection(std::unique_ptr<kube::HttpClient> http, const kube::RestOptions& options)
      : http_(std::move(http)), rest_(*http_, options), lease_(*http_, options) {}

  kube::RestClient& rest() { return rest_; }
  kube::RestClient& lease() { return lease_; }

 private:
  std::unique_ptr<kube::HttpClient> http_;
  kube::RestClient rest_;   // Uses *http_, declared after it.
  kube::RestClient lease_;  // Likewise.
};

// The RestOptions ApiConnection::Open gives its clients: `limits`, and the
// request and rate-limiter metrics registered in `metrics`.
// REQUIRES: metrics outlives the options.
kube::RestOptions ApiRestOptions(observe::MetricsRegistry& metrics, const ApiClientLimits& limits);

// nodeguard_informer_watch_restarts_total and nodeguard_informer_relists_total,
// per resource: counters advanced by what an informer's cumulative stats grew
// since the last Record, so rate() and increase() work as on any counter.
class InformerCounters {
 public:
  // REQUIRES: metrics outlives this object.
  explicit InformerCounters(observe::MetricsRegistry& metrics);
  // REQUIRES: stats of one resource never decrease between calls (an
  // informer's stats are cumulative for its lifetime), and calls for one
  // resource come from one thread.
  void Record(std::string_view resource, const kube::InformerStats& stats);

 private:
  observe::CounterFamily& watch_restarts_;
  observe::CounterFamily& relists_;
};

}  // namespace nodeguard::process
