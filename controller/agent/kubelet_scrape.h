#pragma once

// The agent's scrape of its own kubelet's /metrics (issue 19): one HTTPS GET
// through a kube::HttpClient of its own (not the API server's: another
// server, another trust anchor; MakeKubeletHttpClient builds it), with the
// agent's service-account token, a bounded body, and a long timeout (the
// kubelet answers /metrics only after 120 s while the container runtime
// hangs: the caller watches the pending scrape meanwhile, early/scrape.h).
// The failure kinds are early::ClassifyScrape's.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "early/exposition.h"
#include "early/scrape.h"
#include "kube/http.h"

namespace nodeguard::agent {

struct KubeletScrapeOptions {
  std::string path = "/metrics";
  // Bodies above this are refused, not parsed (a kubelet with 110 pods
  // serves 0.2-1 MB). Error bodies (status != 200) are short and read whole.
  size_t max_body_bytes = 8 << 20;
  // Until the response headers arrive: longer than the kubelet's 2 min CRI
  // timeout, so a scrape blocked by a frozen runtime still delivers its
  // figures when the runtime call times out.
  std::chrono::milliseconds timeout{std::chrono::seconds(150)};
  // The longest gap between two chunks of the body.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};
};

struct ScrapeResult {
  early::ScrapeFailure failure = early::ScrapeFailure::kNone;
  std::string detail;  // For the log: the error, or the status and the start of the body.
  std::optional<early::Exposition> exposition;  // Set when failure == kNone.
  size_t body_bytes = 0;
  double seconds = 0;  // How long the scrape took.
};

// Thread-safe when the HttpClient is (the cpprest one is).
class KubeletScraper {
 public:
  // REQUIRES: http and clock outlive the scraper.
  KubeletScraper(kube::HttpClient& http, const Clock& clock, KubeletScrapeOptions options = {});

  // One scrape; returns when the kubelet answered, the timeouts passed, or
  // cancel was cancelled (failure kCancelled).
  ScrapeResult Scrape(const kube::CancelToken& cancel);

 private:
  kube::HttpClient& http_;
  const Clock& clock_;
  const KubeletScrapeOptions options_;
};

}  // namespace nodeguard::agent
