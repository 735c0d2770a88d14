// Starts real listeners on free loopback ports and fetches from them with
// cpprestsdk's client, as Prometheus and the kubelet would.

// cpprestsdk's U() macro breaks gtest's templates.
#define _TURN_OFF_PLATFORM_STRING

#include "observe/http_server.h"

#include <arpa/inet.h>
#include <cpprest/http_client.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "exposition_validator.h"
#include "observe/endpoints.h"
#include "observe/health.h"
#include "observe/metrics.h"

namespace nodeguard::observe {
namespace {

// A loopback port that was free a moment ago. The listener cannot bind port
// 0 and report it, so the test asks the kernel for one and releases it.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string Loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

struct Fetched {
  int status = 0;
  std::string content_type;
  std::string body;
};

Fetched Get(const std::string& address, const std::string& path_and_query) {
  web::http::client::http_client client("http://" + address);
  web::http::http_response response = client.request(web::http::methods::GET, path_and_query).get();
  Fetched out;
  out.status = response.status_code();
  out.content_type = response.headers().content_type();
  out.body = response.extract_utf8string(true).get();
  return out;
}

TEST(ParseListenAddress, AcceptsFlagForms) {
  auto a = ParseListenAddress(":8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 8080);
  auto b = ParseListenAddress("127.0.0.1:9");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "127.0.0.1");
  auto c = ParseListenAddress("[::1]:8443");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 8443);
  for (const char* bad : {"8080", ":0", ":65536", ":http", "::1:80", "host:", ":80x", ""}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

TEST(ParseQuery, KeepsRepeatsAndDecodes) {
  auto q = ParseQuery("verbose&exclude=leader&exclude=a%20b&x=1+2&&");
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"verbose", ""}));
  EXPECT_EQ(q[1].second, "leader");
  EXPECT_EQ(q[2].second, "a b");
  EXPECT_EQ(q[3].second, "1 2");
}

TEST(HttpServer, ServesRoutesSubtreesAndNotFound) {
  std::string address = Loopback(FreePort());
  auto server = NewCppRestHttpServer(address);
  server->Handle("/hello", [](const HttpServerRequest& r) {
    std::string body = r.method + " " + r.path;
    for (const auto& [k, v] : r.query) body += " " + k + "=" + v;
    return HttpServerReply{201, "text/x-test", body};
  });
  server->Handle(
      "/tree",
      [](const HttpServerRequest& r) {
        return HttpServerReply{200, "text/plain", r.path};
      },
      /*subtree=*/true);
  server->Handle("/boom", [](const HttpServerRequest&) -> HttpServerReply {
    throw std::runtime_error("handler bug");
  });
  ASSERT_TRUE(server->Start().ok());

  Fetched hello = Get(address, "/hello?x=1&y");
  EXPECT_EQ(hello.status, 201);
  EXPECT_EQ(hello.content_type, "text/x-test");
  EXPECT_EQ(hello.body, "GET /hello x=1 y=");
  EXPECT_EQ(Get(address, "/tree/a/b").body, "/tree/a/b");
  EXPECT_EQ(Get(address, "/tree").body, "/tree");
  EXPECT_EQ(Get(address, "/treehouse").status, 404);
  EXPECT_EQ(Get(address, "/hello/x").status, 404);  // Not a subtree route.
  EXPECT_EQ(Get(address, "/").status, 404);
  Fetched boom = Get(address, "/boom");
  EXPECT_EQ(boom.status, 500);
  EXPECT_NE(boom.body.find("handler bug"), std::string::npos);

  server->Stop();
  server->Stop();  // Idempotent.
  EXPECT_THROW(Get(address, "/hello"), std::exception);
}

TEST(HttpServer, ReportsAddressInUse) {
  int port = FreePort();
  auto first = NewCppRestHttpServer(Loopback(port));
  ASSERT_TRUE(first->Start().ok());
  // A plain socket listening on another port; the server must fail to bind it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto second = NewCppRestHttpServer(Loopback(ntohs(addr.sin_port)));
  Status started = second->Start();
  ::close(fd);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().kind, ErrorKind::kUnavailable);
  EXPECT_FALSE(NewCppRestHttpServer("nonsense")->Start().ok());
}

class EndpointsTest : public ::testing::Test {
 protected:
  EndpointsTest() {
    registry_.MustCounter("nodeguard_scrapes_total", "Test counter.", {"who"})
        .WithLabels({"a \"quoted\"\nname"})
        .Inc();
    registry_.MustHistogram("nodeguard_test_seconds", "Test histogram.").Get().Observe(0.3);
    healthz_.Add("ping", [] { return Status::Ok(); });
    // Shaped like the controller's check (process::CheckInformerProgress).
    healthz_.Add("informers", [this] {
      return informers_wedged_.load()
                 ? Status(Error::Unavailable("nodes informer made no progress for 14m0s (bound "
                                             "13m30s): list/watch loop wedged"))
                 : Status::Ok();
    });
    readyz_.Add("informers", [] { return Status::Ok(); });
    readyz_.Add("leader", [this] {
      return leader_ready_.load() ? Status::Ok()
                                  : Status(Error::Unavailable("not leading\nand not standby"));
    });
  }

  MetricsRegistry registry_;
  HealthChecks healthz_{"healthz"};
  HealthChecks readyz_{"readyz"};
  std::atomic<bool> informers_wedged_{false};
  std::atomic<bool> leader_ready_{true};
};

TEST_F(EndpointsTest, SeparateListenersForMetricsAndProbes) {
  EndpointsOptions options;
  options.metrics_address = Loopback(FreePort());
  options.probe_address = Loopback(FreePort());
  auto endpoints = Endpoints::Start(options, registry_, healthz_, readyz_);
  ASSERT_TRUE(endpoints.ok()) << endpoints.error().ToString();
  EXPECT_EQ((*endpoints)->listener_count(), 2u);

  Fetched metrics = Get(options.metrics_address, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics.body, registry_.Render());
  EXPECT_TRUE(testing::ExpositionValidator().Check(metrics.body).empty()) << metrics.body;
  EXPECT_NE(metrics.body.find("nodeguard_scrapes_total{who=\"a \\\"quoted\\\"\\nname\"} 1\n"),
            std::string::npos);

  // Each listener serves only its own paths.
  EXPECT_EQ(Get(options.metrics_address, "/healthz").status, 404);
  EXPECT_EQ(Get(options.probe_address, "/metrics").status, 404);

  Fetched healthz = Get(options.probe_address, "/healthz");
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.body, "ok");
  Fetched verbose = Get(options.probe_address, "/readyz?verbose");
  EXPECT_EQ(verbose.status, 200);
  EXPECT_EQ(verbose.body, "[+]informers ok\n[+]leader ok\nreadyz check passed\n");

  leader_ready_ = false;
  Fetched failing = Get(options.probe_address, "/readyz");
  EXPECT_EQ(failing.status, 500);
  EXPECT_EQ(
      failing.body,
      "[+]informers ok\n[-]leader failed: not leading and not standby\nreadyz check failed\n");
  Fetched excluded = Get(options.probe_address, "/readyz?exclude=leader&verbose");
  EXPECT_EQ(excluded.status, 200);
  EXPECT_EQ(excluded.body, "[+]informers ok\n[+]leader excluded: ok\nreadyz check passed\n");
  Fetched one = Get(options.probe_address, "/readyz/leader");
  EXPECT_EQ(one.status, 500);
  EXPECT_EQ(one.body, "internal server error: not leading and not standby\n");
  EXPECT_EQ(Get(options.probe_address, "/readyz/informers").body, "ok");
  EXPECT_EQ(Get(options.probe_address, "/readyz/nope").status, 404);

  informers_wedged_ = true;
  Fetched wedged = Get(options.probe_address, "/healthz");
  EXPECT_EQ(wedged.status, 500);
  EXPECT_EQ(wedged.body,
            "[+]ping ok\n[-]informers failed: nodes informer made no progress for 14m0s "
            "(bound 13m30s): list/watch loop wedged\nhealthz check failed\n");
}

TEST_F(EndpointsTest, OneListenerWhenAddressesMatch) {
  EndpointsOptions options;
  options.metrics_address = Loopback(FreePort());
  options.probe_address = options.metrics_address;
  auto endpoints = Endpoints::Start(options, registry_, healthz_, readyz_);
  ASSERT_TRUE(endpoints.ok()) << endpoints.error().ToString();
  EXPECT_EQ((*endpoints)->listener_count(), 1u);
  EXPECT_EQ(Get(options.metrics_address, "/metrics").status, 200);
  EXPECT_EQ(Get(options.metrics_address, "/healthz").body, "ok");
  EXPECT_EQ(Get(options.metrics_address, "/readyz").body, "ok");
}

TEST_F(EndpointsTest, DisabledAndInvalidAddresses) {
  EndpointsOptions options;
  options.metrics_address = "0";
  options.probe_address = Loopback(FreePort());
  auto endpoints = Endpoints::Start(options, registry_, healthz_, readyz_);
  ASSERT_TRUE(endpoints.ok());
  EXPECT_EQ((*endpoints)->listener_count(), 1u);
  EXPECT_EQ(Get(options.probe_address, "/metrics").status, 404);

  options.metrics_address = "not-an-address";
  auto bad = Endpoints::Start(options, registry_, healthz_, readyz_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalid);
}

}  // namespace
}  // namespace nodeguard::observe
