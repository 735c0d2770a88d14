// The agent's kubelet client (agent/kubelet_client.h) and scrape
// (agent/kubelet_scrape.h) over real TLS: a local HTTPS server plays the
// kubelet with a certificate that names only the node (as the kubelet's
// self-signed one does: no IP), the agent connects to 127.0.0.1 and checks
// the node name, trusting only the pinned file.

#include "agent/kubelet_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/kubelet_scrape.h"
#include "early/figures.h"
#include "test_https_server.h"
#include "test_pki.h"

namespace nodeguard::agent {
namespace {

using early::ScrapeFailure;
using kube::testing::ServerExchange;
using kube::testing::TestHttpsServer;
using kube::testing::TestPki;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(NODEGUARD_TESTDATA_DIR) + "/real-kubelet/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class KubeletClientTest : public ::testing::Test {
 protected:
  KubeletClientTest()
      : dir_(std::filesystem::temp_directory_path() /
             ("kubelet-client-test-" + std::to_string(::getpid()))),
        server_keys_(pki_.IssueServer({"real-01"}, {})) {
    std::filesystem::create_directories(dir_);
    // As the kubelet's kubelet.crt: its serving certificate, then its CA.
    Write("kubelet.crt", server_keys_.certificate_pem + pki_.ca_pem());
    Write("token", "the-token\n");
    body_ = ReadTestdata("metrics-healthy.txt");
    server_ = std::make_unique<TestHttpsServer>(
        TestHttpsServer::Options{server_keys_, ""}, [this](ServerExchange& ex) {
          if (ex.request().headers.count("authorization") == 0) {
            ex.Respond(401, "Unauthorized");
          } else {
            ex.Respond(200, body_, {{"Content-Type", "text/plain; version=0.0.4"}});
          }
        });
  }
  ~KubeletClientTest() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name), std::ios::binary) << text;
  }
  KubeletClientOptions Options() const {
    KubeletClientOptions o;
    o.url = server_->url("127.0.0.1");
    o.ca_file = Path("kubelet.crt");
    o.server_name = "real-01";
    o.token_file = Path("token");
    return o;
  }
  ScrapeResult ScrapeWith(const KubeletClientOptions& o, KubeletScrapeOptions scrape = {}) {
    auto http = MakeKubeletHttpClient(o, RealClock::Instance());
    EXPECT_TRUE(http.ok()) << http.error().ToString();
    if (!http.ok()) return ScrapeResult{};
    scrape.timeout = std::chrono::seconds(10);
    KubeletScraper scraper(**http, RealClock::Instance(), scrape);
    kube::CancelFlag never;
    return scraper.Scrape(never);
  }

  std::filesystem::path dir_;
  TestPki pki_;
  kube::testing::KeyPair server_keys_;
  std::string body_;
  std::unique_ptr<TestHttpsServer> server_;
};

TEST_F(KubeletClientTest, PinnedCertificateNodeNameAndTokenFromTheFile) {
  ScrapeResult r = ScrapeWith(Options());
  ASSERT_EQ(r.failure, ScrapeFailure::kNone) << r.detail;
  ASSERT_TRUE(r.exposition.has_value());
  EXPECT_NE(r.exposition->Find(early::kLastSeen), nullptr);
  const auto requests = server_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].sni, "real-01");
  EXPECT_EQ(requests[0].target, "/metrics");
  EXPECT_EQ(requests[0].headers.at("authorization"), "Bearer the-token");
}

TEST_F(KubeletClientTest, ANameTheCertificateDoesNotCarryIsATlsFailure) {
  KubeletClientOptions o = Options();
  o.server_name = "real-02";
  ScrapeResult r = ScrapeWith(o);
  EXPECT_EQ(early::ScrapeFailureName(r.failure), std::string("TLS")) << r.detail;
  EXPECT_TRUE(server_->requests().empty());
}

TEST_F(KubeletClientTest, AnotherTrustAnchorIsATlsFailure) {
  Write("other.crt", TestPki("other-ca").ca_pem());
  KubeletClientOptions o = Options();
  o.ca_file = Path("other.crt");
  ScrapeResult r = ScrapeWith(o);
  EXPECT_EQ(early::ScrapeFailureName(r.failure), std::string("TLS")) << r.detail;
  EXPECT_TRUE(server_->requests().empty());
}

TEST_F(KubeletClientTest, TheExplicitOptOutSkipsVerification) {
  KubeletClientOptions o = Options();
  o.ca_file = "";
  o.server_name = "";
  o.insecure_skip_tls_verify = true;
  ScrapeResult r = ScrapeWith(o);
  EXPECT_EQ(r.failure, ScrapeFailure::kNone) << r.detail;
}

TEST_F(KubeletClientTest, NoTokenFileIsNoTokenAndNothingIsSent) {
  KubeletClientOptions o = Options();
  o.token_file = Path("missing");
  ScrapeResult r = ScrapeWith(o);
  EXPECT_EQ(early::ScrapeFailureName(r.failure), std::string("NoToken")) << r.detail;
  EXPECT_TRUE(server_->requests().empty());
}

TEST_F(KubeletClientTest, ABodyOverTheLimitIsRefused) {
  KubeletScrapeOptions scrape;
  scrape.max_body_bytes = 16 * 1024;
  body_ = std::string(64 * 1024, '#') + "\n" + body_;
  ScrapeResult r = ScrapeWith(Options(), scrape);
  EXPECT_EQ(early::ScrapeFailureName(r.failure), std::string("TooLarge")) << r.detail;
  EXPECT_LE(r.body_bytes, 16u * 1024);
}

TEST_F(KubeletClientTest, UnusableConfigurationFailsAtStart) {
  KubeletClientOptions o = Options();
  o.url = "http://127.0.0.1:10255";
  EXPECT_FALSE(MakeKubeletHttpClient(o, RealClock::Instance()).ok());
  o = Options();
  o.ca_file = Path("missing.crt");
  EXPECT_FALSE(MakeKubeletHttpClient(o, RealClock::Instance()).ok());
  Write("garbage.crt", "not a certificate");
  o.ca_file = Path("garbage.crt");
  EXPECT_FALSE(MakeKubeletHttpClient(o, RealClock::Instance()).ok());
  o = Options();
  o.server_name = "";
  EXPECT_FALSE(MakeKubeletHttpClient(o, RealClock::Instance()).ok());
}

}  // namespace
}  // namespace nodeguard::agent
