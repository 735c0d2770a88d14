#include "process/process.h"

#include <atomic>
#include <chrono>
#include <csignal>

#include "kube/config.h"
#include "kube/transport_cpprest.h"
#include "observe/log.h"

namespace nodeguard::process {
namespace {

// Written by the signal handler: a lock-free atomic is async-signal-safe.
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void OnStopSignal(int) { g_stop_requested.store(true); }

}  // namespace

Status SetupLogging(const std::string& level, const std::string& format) {
  auto parsed_format = observe::ParseLogFormat(format);
  if (!parsed_format.ok()) return parsed_format.error();
  observe::LogOptions options;
  options.level = level;
  options.format = *parsed_format;
  return observe::SetupLogging(options);
}

void InstallStopSignalHandlers() {
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGINT, OnStopSignal);
}

bool StopRequested() { return g_stop_requested.load(); }

bool StopToken::cancelled() const { return StopRequested() || flag_.cancelled(); }

kube::RestOptions ApiRestOptions(observe::MetricsRegistry& metrics, const ApiClientLimits& limits) {
  auto& requests = metrics.MustCounter("nodeguard_api_requests_total",
                                       "Requests to the Kubernetes API by verb and HTTP code.",
                                       {"verb", "code"});
  auto& latency = metrics.MustHistogram("nodeguard_api_request_duration_seconds",
                                        "Latency of Kubernetes API requests by verb.", {"verb"});
  auto& waits =
      metrics
          .MustHistogram("nodeguard_api_rate_limiter_wait_seconds",
                         "Time Kubernetes API requests waited for the client-side rate limit "
                         "(--kube-api-qps, --kube-api-burst).",
                         {})
          .WithLabels({});
  kube::RestOptions rest_options;
  rest_options.observer = [&requests, &latency](const kube::RequestMetric& m) {
    requests.WithLabels({std::string(m.verb), std::to_string(m.code)}).Inc();
    latency.WithLabels({std::string(m.verb)})
        .Observe(std::chrono::duration<double>(m.latency).count());
  };
  rest_options.qps = limits.qps;
  rest_options.burst = limits.burst;
  rest_options.on_rate_limited = [&waits](Duration wait) {
    waits.Observe(std::chrono::duration<double>(wait).count());
  };
  return rest_options;
}

Result<std::unique_ptr<ApiConnection>> ApiConnection::Open(const std::string& kubeconfig_path,
                                                           observe::MetricsRegistry& metrics,
                                                           const ApiClientLimits& limits) {
  kube::ConfigSources sources = kube::ConfigSources::FromEnvironment();
  sources.explicit_path = kubeconfig_path;
  auto config = kube::LoadClientConfig(sources);
  if (!config.ok()) {
    return Error::Of(config.error().kind,
                     "cannot load client configuration: " + config.error().message);
  }
  auto http = kube::MakeCpprestHttpClient(*config);
  if (!http.ok()) {
    return Error::Of(http.error().kind, "cannot create HTTP client: " + http.error().message);
  }
  return std::make_unique<ApiConnection>(std::move(*http), ApiRestOptions(metrics, limits));
}

InformerCounters::InformerCounters(observe::MetricsRegistry& metrics)
    : watch_restarts_(metrics.MustCounter("nodeguard_informer_watch_restarts_total",
                                          "Watches resumed from a resourceVersion, per informer.",
                                          {"resource"})),
      relists_(metrics.MustCounter("nodeguard_informer_relists_total",
                                   "Full relists after 410 Gone, per informer.", {"resource"})) {}

void InformerCounters::Record(std::string_view resource, const kube::InformerStats& stats) {
  const std::string label(resource);
  // The counter already holds the stats of the last Record; adding the
  // difference makes it equal to the new stats (Inc(0) on the first call
  // exports both series at 0 from the start).
  auto& restarts = watch_restarts_.WithLabels({label});
  restarts.Inc(static_cast<double>(stats.watch_restarts) - restarts.Value());
  auto& relists = relists_.WithLabels({label});
  relists.Inc(static_cast<double>(stats.relists) - relists.Value());
}

}  // namespace nodeguard::process
