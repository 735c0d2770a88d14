// process/endpoints.h: what both modes serve alike. The listeners themselves
// are tested in tests/unit/observe/http_server_test.cpp.

#include "process/endpoints.h"

#include <gtest/gtest.h>

namespace nodeguard::process {
namespace {

observe::HttpServerReply Get(const observe::HealthChecks& checks, const std::string& path) {
  observe::HttpServerRequest request;
  request.method = "GET";
  request.path = path;
  request.query = {{"verbose", ""}};
  return checks.Serve(request);
}

TEST(Probes, HealthzStartsWithPingAndReadyzEmpty) {
  Probes probes;
  const auto healthz = Get(probes.healthz, "/healthz");
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.body, "[+]ping ok\nhealthz check passed\n");
  const auto readyz = Get(probes.readyz, "/readyz");
  EXPECT_EQ(readyz.status, 200);
  EXPECT_EQ(readyz.body, "readyz check passed\n");
}

TEST(Probes, AModesChecksFollowPing) {
  Probes probes;
  probes.healthz.Add("informers", [] { return Status(Error::Unavailable("stalled")); });
  const auto healthz = Get(probes.healthz, "/healthz");
  EXPECT_EQ(healthz.status, 500);
  EXPECT_EQ(healthz.body.rfind("[+]ping ok\n[-]informers failed", 0), 0u) << healthz.body;
}

TEST(ServeEndpoints, DisabledAddressesServeNothing) {
  observe::MetricsRegistry metrics;
  Probes probes;
  auto endpoints = ServeEndpoints("0", "", metrics, probes, observe::Log());
  ASSERT_NE(endpoints, nullptr);
  EXPECT_EQ(endpoints->listener_count(), 0u);
}

TEST(ServeEndpoints, ABadAddressIsNull) {
  observe::MetricsRegistry metrics;
  Probes probes;
  EXPECT_EQ(ServeEndpoints("not-an-address", "0", metrics, probes, observe::Log()), nullptr);
  EXPECT_EQ(ServeEndpoints("0", "not-an-address", metrics, probes, observe::Log()), nullptr);
}

}  // namespace
}  // namespace nodeguard::process
