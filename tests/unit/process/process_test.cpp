#include "process/process.h"

#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "fake_http.h"
#include "observe/metrics.h"

namespace nodeguard::process {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(InformerCounters, AdvanceByWhatTheStatsGrewPerResource) {
  observe::MetricsRegistry metrics;
  InformerCounters counters(metrics);
  kube::InformerStats nodes;
  nodes.watch_restarts = 3;
  nodes.relists = 1;
  kube::InformerStats pods;
  pods.watch_restarts = 7;
  counters.Record("nodes", nodes);
  counters.Record("pods", pods);
  counters.Record("nodes", nodes);  // Unchanged stats add nothing.
  nodes.watch_restarts = 4;
  counters.Record("nodes", nodes);
  const std::string text = metrics.Render();
  EXPECT_TRUE(Contains(text, "# TYPE nodeguard_informer_watch_restarts_total counter\n")) << text;
  EXPECT_TRUE(Contains(text, "nodeguard_informer_watch_restarts_total{resource=\"nodes\"} 4\n"))
      << text;
  EXPECT_TRUE(Contains(text, "nodeguard_informer_watch_restarts_total{resource=\"pods\"} 7\n"))
      << text;
  EXPECT_TRUE(Contains(text, "nodeguard_informer_relists_total{resource=\"nodes\"} 1\n")) << text;
  // A resource that never relisted is exported at 0 from its first Record.
  EXPECT_TRUE(Contains(text, "nodeguard_informer_relists_total{resource=\"pods\"} 0\n")) << text;
}

TEST(ApiRestOptions, TheRateLimiterWaitIsObservedInItsHistogram) {
  observe::MetricsRegistry metrics;
  kube::RestOptions options = ApiRestOptions(metrics, {10, 2});
  // Exported from the start, before any request.
  EXPECT_TRUE(Contains(metrics.Render(), "nodeguard_api_rate_limiter_wait_seconds_count 0\n"))
      << metrics.Render();
  FakeClock clock;
  options.clock = &clock;
  options.sleep = [&clock](std::chrono::milliseconds d) { clock.Advance(d); };
  kube::testing::FakeHttpClient http;
  http.SetHandler(
      [](const kube::HttpRequest&) { return kube::testing::FakeHttpClient::Respond(200, "{}"); });
  kube::RestClient rest(http, options);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(rest.Get(kube::CoreResource("nodes"), "n").ok());
  // Two within the burst, then two that waited 100 ms each.
  const std::string text = metrics.Render();
  EXPECT_TRUE(Contains(text, "# TYPE nodeguard_api_rate_limiter_wait_seconds histogram\n")) << text;
  EXPECT_TRUE(Contains(text, "nodeguard_api_rate_limiter_wait_seconds_count 4\n")) << text;
  EXPECT_TRUE(Contains(text, "nodeguard_api_rate_limiter_wait_seconds_sum 0.2\n")) << text;
  EXPECT_TRUE(Contains(text, "nodeguard_api_rate_limiter_wait_seconds_bucket{le=\"0.005\"} 2\n"))
      << text;
  EXPECT_TRUE(Contains(text, "nodeguard_api_requests_total{verb=\"get\",code=\"200\"} 4\n"))
      << text;
}

TEST(SetupLogging, RejectsAnUnknownFormatOrLevel) {
  EXPECT_FALSE(SetupLogging("info", "yaml").ok());
  EXPECT_FALSE(SetupLogging("loud", "text").ok());
  EXPECT_TRUE(SetupLogging("info", "json").ok());
  EXPECT_TRUE(SetupLogging("info", "text").ok());
}

TEST(ApiConnection, AMissingKubeconfigIsAnErrorNamingIt) {
  observe::MetricsRegistry metrics;
  auto connection = ApiConnection::Open("/nonexistent/nodeguard/kubeconfig", metrics, {20, 30});
  ASSERT_FALSE(connection.ok());
  EXPECT_TRUE(Contains(connection.error().message, "/nonexistent/nodeguard/kubeconfig"))
      << connection.error().ToString();
}

// Last in this file: the stop flag is process-wide and stays set.
TEST(StopToken, CancelledByItsOwnCancelOrByASignal) {
  InstallStopSignalHandlers();
  StopToken first;
  StopToken second;
  EXPECT_FALSE(first.cancelled());
  first.Cancel();
  EXPECT_TRUE(first.cancelled());
  EXPECT_FALSE(second.cancelled());
  EXPECT_FALSE(StopRequested());
  std::raise(SIGTERM);
  EXPECT_TRUE(StopRequested());
  EXPECT_TRUE(second.cancelled());
}

}  // namespace
}  // namespace nodeguard::process
