// The agent's kubelet scrape (agent/kubelet_scrape.h) over a scripted
// HttpClient, and the early-warning loop (agent/early_warning.h) with the
// real kubelet's bodies (tests/testdata/real-kubelet) and a fake Node API.

#include "agent/early_warning.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/kubelet_scrape.h"
#include "fake_http.h"
#include "fakes.h"

namespace nodeguard::agent {
namespace {

using namespace std::chrono_literals;
using early::Level;
using early::ScrapeFailure;
using kube::testing::FakeHttpClient;
using testing::FakeNodeApi;
using testing::MakeNode;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(NODEGUARD_TESTDATA_DIR) + "/real-kubelet/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int64_t ScrapedAt(const std::string& body) {
  const std::string key = "scraped at unix ";
  size_t p = body.find(key);
  EXPECT_NE(p, std::string::npos);
  return p == std::string::npos ? 0 : std::stoll(body.substr(p + key.size()));
}

// A 200 reply delivering `body` in chunks of `size` bytes.
FakeHttpClient::Reply Chunked(const std::string& body, size_t size = 4096) {
  auto reply = FakeHttpClient::Respond(200, "");
  for (size_t i = 0; i < body.size(); i += size) reply.chunks.push_back(body.substr(i, size));
  return reply;
}

const kube::CancelFlag kNotCancelled;

TEST(KubeletScraper, GetsMetricsInTheTextFormatWithTheLongTimeout) {
  FakeHttpClient http;
  FakeClock clock;
  http.Push(Chunked(ReadTestdata("metrics-healthy.txt")));
  KubeletScraper scraper(http, clock);
  ScrapeResult r = scraper.Scrape(kNotCancelled);
  EXPECT_EQ(r.failure, ScrapeFailure::kNone) << r.detail;
  ASSERT_TRUE(r.exposition.has_value());
  EXPECT_NE(r.exposition->Find(early::kLastSeen), nullptr);
  ASSERT_EQ(http.requests().size(), 1u);
  const kube::HttpRequest sent = http.requests()[0];
  EXPECT_EQ(sent.method, "GET");
  EXPECT_EQ(sent.path_and_query, "/metrics");
  EXPECT_EQ(sent.headers.at("Accept"), "text/plain;version=0.0.4");
  EXPECT_EQ(sent.timeout, std::chrono::milliseconds(150s));
}

TEST(KubeletScraper, RefusesABodyOverTheLimitWithoutReadingTheRest) {
  FakeHttpClient http;
  FakeClock clock;
  http.Push(Chunked(ReadTestdata("metrics-healthy.txt"), 1024));
  KubeletScrapeOptions options;
  options.max_body_bytes = 10 * 1024;
  KubeletScraper scraper(http, clock, options);
  ScrapeResult r = scraper.Scrape(kNotCancelled);
  EXPECT_EQ(r.failure, ScrapeFailure::kTooLarge);
  EXPECT_LE(r.body_bytes, 10u * 1024);
  EXPECT_FALSE(r.exposition.has_value());
}

TEST(KubeletScraper, StatusesAndBodiesAreClassified) {
  struct Case {
    FakeHttpClient::Reply reply;
    ScrapeFailure want;
    std::string detail;  // Contained in the detail.
  };
  const std::string healthy = ReadTestdata("metrics-healthy.txt");
  std::vector<Case> cases = {
      {FakeHttpClient::Respond(401, "Unauthorized"), ScrapeFailure::kUnauthorized, "status 401"},
      {FakeHttpClient::Respond(403,
                               "Forbidden (user=system:serviceaccount:x:y, verb=get, "
                               "resource=nodes, subresource(s)=[metrics])"),
       ScrapeFailure::kForbidden, "subresource(s)=[metrics]"},
      {FakeHttpClient::Respond(503, "busy"), ScrapeFailure::kHttpStatus, "status 503"},
      {Chunked(healthy.substr(0, healthy.size() / 2)), ScrapeFailure::kTruncated, "line"},
      {Chunked("<html><body>hello</body></html>\n"), ScrapeFailure::kUnparsable, "line"},
      {FakeHttpClient::Fail(Error::Timeout("no response headers within 150000ms")),
       ScrapeFailure::kTimeout, "150000ms"},
      {FakeHttpClient::Fail(Error::Unavailable("Connection refused")), ScrapeFailure::kUnreachable,
       "refused"},
      {FakeHttpClient::Fail(Error::Of(ErrorKind::kUnauthorized, "token file /t: No such file")),
       ScrapeFailure::kNoToken, "token file"},
  };
  for (auto& c : cases) {
    FakeHttpClient http;
    FakeClock clock;
    http.Push(c.reply);
    KubeletScraper scraper(http, clock);
    ScrapeResult r = scraper.Scrape(kNotCancelled);
    EXPECT_EQ(early::ScrapeFailureName(r.failure), std::string(early::ScrapeFailureName(c.want)))
        << r.detail;
    EXPECT_NE(r.detail.find(c.detail), std::string::npos) << r.detail;
    EXPECT_FALSE(r.exposition.has_value());
  }
}

class EarlyWarningTest : public ::testing::Test {
 protected:
  EarlyWarningTest() : api_(MakeNode("worker-1")), metrics_(registry_) {
    options_.node_name = "worker-1";
  }

  // One scrape answered at once with `body` at the clock's time.
  void ScrapeNow(const std::string& body) {
    http_.Push(Chunked(body));
    ew_->ScrapeStarted();
    ew_->ScrapeFinished(scraper_.Scrape(kNotCancelled));
  }
  std::optional<nlohmann::json> Published() const {
    const std::string* raw = api_.node().Annotation(early::kEarlyWarningAnnotation);
    if (raw == nullptr) return std::nullopt;
    return nlohmann::json::parse(*raw);
  }
  double Writes(const char* reason) { return metrics_.publishes.WithLabels({reason}).Value(); }

  FakeHttpClient http_;
  FakeClock clock_;
  FakeNodeApi api_;
  observe::MetricsRegistry registry_;
  EarlyWarningMetrics metrics_;
  EarlyWarningOptions options_;
  KubeletScraper scraper_{http_, clock_};
  std::unique_ptr<EarlyWarning> ew_;
};

// The real kubelet's freeze (docs/early-warning.md): Healthy published on the
// first scrape; a scrape the frozen kubelet does not answer turns the level
// Critical after 30 s, before the body arrives; the frozen body keeps it
// Critical; the thawed one steps down to Degraded; calm for 2 min -> Healthy.
TEST_F(EarlyWarningTest, FreezeEpisodeOfTheRealKubelet) {
  const std::string healthy = ReadTestdata("metrics-healthy.txt");
  const std::string frozen = ReadTestdata("metrics-frozen.txt");
  const std::string thawed = ReadTestdata("metrics-thawed.txt");
  const std::string restarted = ReadTestdata("metrics-restarted.txt");
  clock_.SetWall(WallTime(std::chrono::seconds(ScrapedAt(healthy))));
  options_.window = 10s;
  ew_ = std::make_unique<EarlyWarning>(api_, clock_, options_, &metrics_);

  ScrapeNow(healthy);
  ASSERT_TRUE(Published().has_value());
  EXPECT_EQ((*Published())["level"], "Healthy");
  EXPECT_EQ(Writes("First"), 1);
  EXPECT_EQ(metrics_.level.Get().Value(), 0);

  // The same body 10 s later: same level, figures moved (age +10 s) but the
  // last write is younger than a minute: nothing written.
  clock_.Advance(10s);
  ScrapeNow(healthy);
  EXPECT_EQ(api_.writes().size(), 1u);

  // The runtime freezes; the next scrape is not answered.
  clock_.Advance(10s);
  ew_->ScrapeStarted();
  for (int s = 1; s <= 30; ++s) {
    clock_.Advance(1s);
    ew_->Tick();
  }
  EXPECT_EQ(ew_->level(), Level::kHealthy);  // Pending 30 s: not yet over the mark.
  EXPECT_EQ(metrics_.scrape_pending.Get().Value(), 30);
  clock_.Advance(1s);
  ew_->Tick();
  EXPECT_EQ(ew_->level(), Level::kCritical);
  ASSERT_EQ(api_.writes().size(), 2u);
  EXPECT_EQ((*Published())["level"], "Critical");
  EXPECT_EQ((*Published())["reason"], "LastSeenOverCritical");
  EXPECT_EQ((*Published())["figures"]["scrapePendingSeconds"], 31.0);
  EXPECT_EQ(Writes("LevelChanged"), 1);
  EXPECT_EQ(metrics_.level.Get().Value(), 2);

  // Still pending: Critical, at most one write a minute while the age moves.
  for (int s = 0; s < 89; ++s) {
    clock_.Advance(1s);
    ew_->Tick();
  }
  EXPECT_EQ(ew_->level(), Level::kCritical);
  EXPECT_EQ(api_.writes().size(), 3u);  // One FiguresMoved, 60 s after the change.
  EXPECT_EQ(Writes("FiguresMoved"), 1);

  // The kubelet answers after 120 s with the frozen body (last relist 162 s
  // old at the time it was scraped).
  clock_.SetWall(WallTime(std::chrono::seconds(ScrapedAt(frozen))));
  http_.Push(Chunked(frozen));
  ew_->ScrapeFinished(scraper_.Scrape(kNotCancelled));
  EXPECT_EQ(ew_->level(), Level::kCritical);
  EXPECT_EQ(metrics_.scrape_pending.Get().Value(), 0);

  // Thawed: the relist runs again -> Degraded, written at once.
  clock_.SetWall(WallTime(std::chrono::seconds(ScrapedAt(thawed))));
  ScrapeNow(thawed);
  EXPECT_EQ(ew_->level(), Level::kDegraded);
  EXPECT_EQ((*Published())["level"], "Degraded");
  EXPECT_EQ((*Published())["since"], FormatRfc3339(clock_.Now()));

  // The kubelet restarted: calm; Healthy once calm for the 2 min hold.
  clock_.SetWall(WallTime(std::chrono::seconds(ScrapedAt(restarted))));
  ScrapeNow(restarted);
  EXPECT_EQ(ew_->level(), Level::kDegraded);
  const std::string restarted_again = restarted;
  // Same body later: the last relist ages, so shift the body's
  // kubelet_pleg_last_seen_seconds along with the clock instead.
  auto shifted = [&](int64_t by) {
    std::string b = restarted;
    const std::string key = "kubelet_pleg_last_seen_seconds ";
    size_t p = b.find("\n" + key);
    EXPECT_NE(p, std::string::npos);
    size_t start = p + 1 + key.size();
    size_t end = b.find('\n', start);
    double v = std::stod(b.substr(start, end - start)) + static_cast<double>(by);
    b.replace(start, end - start, std::to_string(static_cast<int64_t>(v)));
    return b;
  };
  for (int i = 1; i <= 12; ++i) {
    clock_.Advance(10s);
    ScrapeNow(shifted(10 * i));
  }
  EXPECT_EQ(ew_->level(), Level::kHealthy);
  EXPECT_EQ((*Published())["level"], "Healthy");
  EXPECT_EQ(metrics_.level.Get().Value(), 0);
  EXPECT_EQ(metrics_.scrape_failures.WithLabels({"Timeout"}).Value(), 0);
}

TEST_F(EarlyWarningTest, FailedScrapesAreCountedAndKeepTheLevelWithoutWrites) {
  ew_ = std::make_unique<EarlyWarning>(api_, clock_, options_, &metrics_);
  const std::string healthy = ReadTestdata("metrics-healthy.txt");
  clock_.SetWall(WallTime(std::chrono::seconds(ScrapedAt(healthy))));
  ScrapeNow(healthy);
  ASSERT_EQ(api_.writes().size(), 1u);
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(70s);
    http_.Push(FakeHttpClient::Respond(403, "Forbidden"));
    ew_->ScrapeStarted();
    ew_->ScrapeFinished(scraper_.Scrape(kNotCancelled));
  }
  EXPECT_EQ(metrics_.scrape_failures.WithLabels({"Forbidden"}).Value(), 3);
  EXPECT_EQ(ew_->level(), Level::kHealthy);
  EXPECT_EQ(api_.writes().size(), 1u);
  EXPECT_EQ(metrics_.scrape_duration.Get().Read().count, 4u);
}

TEST_F(EarlyWarningTest, AFailedWriteIsRetriedOnTheNextDecision) {
  ew_ = std::make_unique<EarlyWarning>(api_, clock_, options_, &metrics_);
  const std::string healthy = ReadTestdata("metrics-healthy.txt");
  clock_.SetWall(WallTime(std::chrono::seconds(ScrapedAt(healthy))));
  api_.FailNextWrites(1);
  ScrapeNow(healthy);
  EXPECT_FALSE(Published().has_value());
  EXPECT_EQ(metrics_.publish_errors.Get().Value(), 1);
  EXPECT_FALSE(ew_->published().has_value());
  clock_.Advance(1s);
  ScrapeNow(healthy);
  ASSERT_TRUE(Published().has_value());
  EXPECT_EQ((*Published())["level"], "Healthy");
  EXPECT_EQ(Writes("First"), 1);
}

TEST_F(EarlyWarningTest, ARestartedAgentResumesFromThePublishedLevel) {
  const std::string thawed = ReadTestdata("metrics-thawed.txt");
  const WallTime at = WallTime(std::chrono::seconds(ScrapedAt(thawed)));
  clock_.SetWall(at);
  early::EarlyWarningRecord record;
  record.level = Level::kCritical;
  record.since = at - 100s;
  record.observed_at = at - 10s;
  record.figures.last_seen_age_seconds = 150;
  ew_ = std::make_unique<EarlyWarning>(api_, clock_, options_, &metrics_);
  ew_->Restore(early::EncodeEarlyWarning(record));
  EXPECT_EQ(ew_->level(), Level::kCritical);
  EXPECT_EQ(metrics_.level.Get().Value(), 2);
  // The first scrape after the restart: the relist runs (age 1 s) -> Degraded.
  ScrapeNow(thawed);
  EXPECT_EQ(ew_->level(), Level::kDegraded);
  EXPECT_EQ(Writes("LevelChanged"), 1);
  EXPECT_EQ(Writes("First"), 0);
}

TEST_F(EarlyWarningTest, AMalformedPublishedValueIsIgnored) {
  ew_ = std::make_unique<EarlyWarning>(api_, clock_, options_, &metrics_);
  ew_->Restore("{not json");
  EXPECT_EQ(ew_->level(), Level::kHealthy);
  EXPECT_FALSE(ew_->published().has_value());
}

// The policy's marks (nodeguard.io/early-warning-thresholds, written by the
// controller) replace the flags' while the node carries them; without the
// annotation, or with one that cannot be read, the flags decide.
TEST_F(EarlyWarningTest, ThePolicysThresholdsReplaceTheFlagsWhileTheNodeCarriesThem) {
  clock_.SetWall(WallTime(std::chrono::seconds(1796640000)));
  ew_ = std::make_unique<EarlyWarning>(api_, clock_, options_, &metrics_);
  EXPECT_EQ(ew_->thresholds().second, "flags");

  early::PolicyThresholds policy;
  policy.policy = "workers";
  policy.thresholds.critical_last_seen = 60s;
  const std::string annotation = early::EncodeThresholds(policy);
  ew_->UseThresholds(&annotation);
  EXPECT_EQ(ew_->thresholds().second, "policy workers");
  EXPECT_EQ(ew_->thresholds().first.critical_last_seen, 60s);

  // A scrape pending 31 s: over the flags' 30 s mark, not over the policy's 60 s.
  ew_->ScrapeStarted();
  for (int s = 1; s <= 31; ++s) {
    clock_.Advance(1s);
    ew_->Tick();
  }
  EXPECT_EQ(ew_->level(), Level::kHealthy);

  // The annotation becomes unreadable: the flags decide (30 s), Critical.
  const std::string garbage = "{not json";
  ew_->UseThresholds(&garbage);
  EXPECT_EQ(ew_->thresholds().second, "flags");
  clock_.Advance(1s);
  ew_->Tick();
  EXPECT_EQ(ew_->level(), Level::kCritical);

  // Back to the policy, then removed by the controller: the flags again.
  ew_->UseThresholds(&annotation);
  EXPECT_EQ(ew_->thresholds().second, "policy workers");
  ew_->UseThresholds(nullptr);
  EXPECT_EQ(ew_->thresholds().second, "flags");
  EXPECT_EQ(ew_->thresholds().first, options_.thresholds);
}

}  // namespace
}  // namespace nodeguard::agent
