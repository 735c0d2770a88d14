#include "kube/transport_cpprest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "test_https_server.h"
#include "test_pki.h"

namespace nodeguard::kube {
namespace {

using ::testing::HasSubstr;
using testing::KeyPair;
using testing::ServerExchange;
using testing::TestHttpsServer;
using testing::TestPki;

// A one-shot signal between the test and a server handler thread.
class Latch {
 public:
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds max = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, max, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class TransportTest : public ::testing::Test {
 protected:
  TransportTest()
      : server_keys_(pki_.IssueServer({"kube.test"}, {"127.0.0.1"})),
        client_keys_(pki_.IssueClient("nodeguard-test", "system:masters")) {}

  void Serve(TestHttpsServer::Handler handler, bool require_client_cert = true) {
    server_ = std::make_unique<TestHttpsServer>(
        TestHttpsServer::Options{server_keys_, require_client_cert ? pki_.ca_pem() : ""},
        std::move(handler));
  }

  ClientConfig Config(const std::string& host = "127.0.0.1") const {
    ClientConfig config;
    config.server = server_->url(host);
    config.ca_pem = pki_.ca_pem();
    config.client_certificate_pem = client_keys_.certificate_pem;
    config.client_key_pem = client_keys_.key_pem;
    return config;
  }

  std::unique_ptr<HttpClient> Client(const ClientConfig& config) {
    auto client = MakeCpprestHttpClient(config);
    EXPECT_TRUE(client.ok()) << client.error().ToString();
    return client.ok() ? std::move(client.value()) : nullptr;
  }

  static HttpRequest Get(const std::string& path,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    HttpRequest r;
    r.path_and_query = path;
    r.timeout = timeout;
    return r;
  }

  TestPki pki_;
  KeyPair server_keys_;
  KeyPair client_keys_;
  std::unique_ptr<TestHttpsServer> server_;
};

TEST_F(TransportTest, MutualTlsRequestWithBearerToken) {
  Serve([](ServerExchange& ex) { ex.Respond(200, R"({"kind":"Node"})", {{"X-Custom", "yes"}}); });
  ClientConfig config = Config();
  config.token = MakeStaticTokenSource("secret-token");
  auto client = Client(config);
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Get("/api/v1/nodes/n1?resourceVersion=0"));
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"kind":"Node"})");
  EXPECT_EQ(response->headers["x-custom"], "yes");  // Lower-cased keys.
  const auto requests = server_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/api/v1/nodes/n1?resourceVersion=0");
  EXPECT_EQ(requests[0].headers.at("authorization"), "Bearer secret-token");
  EXPECT_EQ(requests[0].headers.at("accept"), "application/json");
  EXPECT_EQ(requests[0].headers.at("user-agent"), "nodeguard");
  EXPECT_EQ(requests[0].client_cn, "nodeguard-test");
}

TEST_F(TransportTest, PostsBodyWithContentType) {
  Serve([](ServerExchange& ex) { ex.Respond(201, ex.request().body); });
  auto client = Client(Config());
  ASSERT_NE(client, nullptr);
  HttpRequest request = Get("/api/v1/namespaces/default/configmaps");
  request.method = "PATCH";
  request.headers["Content-Type"] = "application/merge-patch+json";
  request.body = R"({"data":{"a":"b"}})";
  auto response = client->Send(request);
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, request.body);
  const auto requests = server_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "PATCH");
  EXPECT_EQ(requests[0].headers.at("content-type"), "application/merge-patch+json");
  EXPECT_EQ(requests[0].body, request.body);
}

TEST_F(TransportTest, HttpErrorStatusIsAResponseNotAnError) {
  Serve([](ServerExchange& ex) { ex.Respond(404, R"({"kind":"Status","reason":"NotFound"})"); });
  auto client = Client(Config());
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Get("/api/v1/nodes/missing"));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 404);
  EXPECT_THAT(response->body, HasSubstr("NotFound"));
}

TEST_F(TransportTest, UnknownCaIsRejected) {
  Serve([](ServerExchange& ex) { ex.Respond(200, "{}"); });
  ClientConfig config = Config();
  config.ca_pem = TestPki("other-ca").ca_pem();
  auto client = Client(config);
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Get("/version"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(server_->requests().empty());
}

TEST_F(TransportTest, InsecureSkipVerifyAcceptsUnknownCa) {
  Serve([](ServerExchange& ex) { ex.Respond(200, "{}"); });
  ClientConfig config = Config();
  config.ca_pem.clear();
  config.insecure_skip_tls_verify = true;
  auto client = Client(config);
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Get("/version"));
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
}

TEST_F(TransportTest, HostNameIsVerifiedAndTlsServerNameOverridesIt) {
  Serve([](ServerExchange& ex) { ex.Respond(200, "{}"); });
  // "localhost" is not among the certificate's names.
  auto mismatched = Client(Config("localhost"));
  ASSERT_NE(mismatched, nullptr);
  auto rejected = mismatched->Send(Get("/version"));
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().kind, ErrorKind::kUnavailable);

  ClientConfig config = Config("localhost");
  config.tls_server_name = "kube.test";
  auto client = Client(config);
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Get("/version"));
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  const auto requests = server_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].sni, "kube.test");
}

TEST_F(TransportTest, ServerRequiringClientCertRejectsClientWithout) {
  Serve([](ServerExchange& ex) { ex.Respond(200, "{}"); });
  ClientConfig config = Config();
  config.client_certificate_pem.clear();
  config.client_key_pem.clear();
  auto client = Client(config);
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Get("/version"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().kind, ErrorKind::kUnavailable);
}

TEST_F(TransportTest, BadTlsMaterialFailsAtConstruction) {
  Serve([](ServerExchange& ex) { ex.Respond(200, "{}"); });
  ClientConfig bad_ca = Config();
  bad_ca.ca_pem = "not a certificate";
  auto a = MakeCpprestHttpClient(bad_ca);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().kind, ErrorKind::kInvalid);

  ClientConfig mismatched_key = Config();
  mismatched_key.client_key_pem = pki_.IssueClient("other", "").key_pem;
  EXPECT_FALSE(MakeCpprestHttpClient(mismatched_key).ok());

  ClientConfig bad_url = Config();
  bad_url.server = "ftp://example";
  EXPECT_FALSE(MakeCpprestHttpClient(bad_url).ok());
}

TEST_F(TransportTest, ConnectionRefusedIsUnavailable) {
  Serve([](ServerExchange& ex) { ex.Respond(200, "{}"); });
  ClientConfig config = Config();
  config.server = "https://127.0.0.1:1";
  auto client = Client(config);
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Get("/version"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().kind, ErrorKind::kUnavailable);
}

TEST_F(TransportTest, SlowServerTimesOut) {
  Serve([](ServerExchange& ex) {
    ex.Stall(std::chrono::seconds(10));
    ex.Respond(200, "{}");
  });
  auto client = Client(Config());
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Get("/slow", std::chrono::milliseconds(300)));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().kind, ErrorKind::kTimeout);
  EXPECT_THAT(response.error().message, HasSubstr("/slow"));
}

TEST_F(TransportTest, TokenSourceFailureStopsTheRequest) {
  Serve([](ServerExchange& ex) { ex.Respond(200, "{}"); });
  class Failing final : public TokenSource {
   public:
    Result<std::string> Token() override {
      return Error::Of(ErrorKind::kUnauthorized, "token file gone");
    }
  };
  ClientConfig config = Config();
  config.token = std::make_shared<Failing>();
  auto client = Client(config);
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Get("/version"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().kind, ErrorKind::kUnauthorized);
  EXPECT_TRUE(server_->requests().empty());
}

TEST_F(TransportTest, StreamDeliversChunksAsTheyArrive) {
  Latch first_received;
  Serve([&](ServerExchange& ex) {
    ex.StartChunked(200);
    ex.WriteChunk("{\"type\":\"ADDED\"}\n");
    // The second chunk is written only after the client has seen the first:
    // proof that chunks are handed over incrementally, not at end of body.
    if (!first_received.Wait()) return;
    ex.WriteChunk("{\"type\":\"MODIFIED\"}\n");
    ex.EndChunked();
  });
  auto client = Client(Config());
  ASSERT_NE(client, nullptr);
  std::string received;
  CancelFlag cancel;
  auto response = client->Stream(
      Get("/api/v1/pods?watch=1"),
      [&](std::string_view chunk) {
        received.append(chunk);
        if (received.find("ADDED") != std::string::npos) first_received.Open();
        return true;
      },
      cancel, std::chrono::seconds(10));
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(received, "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n");
}

TEST_F(TransportTest, StalledStreamHitsIdleTimeout) {
  Serve([](ServerExchange& ex) {
    ex.StartChunked(200);
    ex.WriteChunk("{}\n");
    ex.Stall(std::chrono::seconds(10));
  });
  auto client = Client(Config());
  ASSERT_NE(client, nullptr);
  CancelFlag cancel;
  int chunks = 0;
  auto response = client->Stream(
      Get("/watch"),
      [&](std::string_view) {
        ++chunks;
        return true;
      },
      cancel, std::chrono::milliseconds(300));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().kind, ErrorKind::kTimeout);
  EXPECT_THAT(response.error().message, HasSubstr("idle"));
  EXPECT_EQ(chunks, 1);
}

TEST_F(TransportTest, CancelStopsAStream) {
  Serve([](ServerExchange& ex) {
    ex.StartChunked(200);
    ex.WriteChunk("{}\n");
    ex.Stall(std::chrono::seconds(10));
  });
  auto client = Client(Config());
  ASSERT_NE(client, nullptr);
  CancelFlag cancel;
  auto response = client->Stream(
      Get("/watch"),
      [&](std::string_view) {
        cancel.Cancel();  // As another thread would; polled while waiting.
        return true;
      },
      cancel, std::chrono::seconds(30));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().kind, ErrorKind::kCancelled);
}

TEST_F(TransportTest, HandlerReturningFalseEndsTheStreamCleanly) {
  Serve([](ServerExchange& ex) {
    ex.StartChunked(200);
    for (int i = 0; i < 50 && ex.WriteChunk("{}\n"); ++i) ex.Stall(std::chrono::milliseconds(20));
  });
  auto client = Client(Config());
  ASSERT_NE(client, nullptr);
  CancelFlag cancel;
  int chunks = 0;
  auto response = client->Stream(
      Get("/watch"), [&](std::string_view) { return ++chunks < 2; }, cancel,
      std::chrono::seconds(10));
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(chunks, 2);
}

TEST_F(TransportTest, StreamErrorStatusReturnsBody) {
  Serve([](ServerExchange& ex) {
    ex.Respond(410, R"({"kind":"Status","reason":"Expired","code":410})");
  });
  auto client = Client(Config());
  ASSERT_NE(client, nullptr);
  CancelFlag cancel;
  bool called = false;
  auto response = client->Stream(
      Get("/watch"),
      [&](std::string_view) {
        called = true;
        return true;
      },
      cancel, std::chrono::seconds(10));
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->status, 410);
  EXPECT_THAT(response->body, HasSubstr("Expired"));
  EXPECT_FALSE(called);
}

TEST_F(TransportTest, ConcurrentRequestsShareOneClient) {
  Serve([](ServerExchange& ex) { ex.Respond(200, ex.request().target); });
  auto client = Client(Config());
  ASSERT_NE(client, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        const std::string path = "/p/" + std::to_string(t) + "/" + std::to_string(i);
        auto r = client->Send(Get(path));
        if (r.ok() && r->body == path) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 20);
}

}  // namespace
}  // namespace nodeguard::kube
