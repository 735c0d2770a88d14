#include "agent/kubelet_scrape.h"

#include "early/figures.h"

namespace nodeguard::agent {

namespace {

std::string Start(const std::string& body) {
  constexpr size_t kMax = 200;
  std::string s = body.substr(0, kMax);
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return body.size() > kMax ? s + "..." : s;
}

}  // namespace

KubeletScraper::KubeletScraper(kube::HttpClient& http, const Clock& clock,
                               KubeletScrapeOptions options)
    : http_(http), clock_(clock), options_(std::move(options)) {}

ScrapeResult KubeletScraper::Scrape(const kube::CancelToken& cancel) {
  const MonoTime started = clock_.Monotonic();
  kube::HttpRequest request;
  request.method = "GET";
  request.path_and_query = options_.path;
  request.headers["Accept"] = "text/plain;version=0.0.4";
  request.timeout = options_.timeout;

  std::string body;
  early::ScrapeAttempt attempt;
  auto response = http_.Stream(
      request,
      [&](std::string_view chunk) {
        if (body.size() + chunk.size() > options_.max_body_bytes) {
          attempt.body_over_limit = true;
          return false;  // Drops the connection: the rest is not read.
        }
        body.append(chunk);
        return true;
      },
      cancel, options_.idle_timeout);

  ScrapeResult result;
  if (!response.ok()) {
    attempt.transport_error = response.error().kind;
    attempt.transport_message = response.error().message;
    result.detail = response.error().ToString();
  } else {
    attempt.status = response->status;
    if (response->status != 200) {
      result.detail = "status " + std::to_string(response->status) + ": " + Start(response->body);
    }
  }
  std::optional<Result<early::Exposition>> parsed;
  if (!attempt.transport_error && attempt.status == 200 && !attempt.body_over_limit) {
    early::ParseLimits limits;
    limits.max_body_bytes = options_.max_body_bytes;
    parsed = early::ParseExposition(body, early::PlegFamilies(), limits);
    attempt.parse_failed = !parsed->ok();
    attempt.body_ends_with_newline = !body.empty() && body.back() == '\n';
    if (!parsed->ok()) result.detail = parsed->error().message;
  }
  if (attempt.body_over_limit) {
    result.detail = "body over " + std::to_string(options_.max_body_bytes) + " bytes";
  }
  result.failure = early::ClassifyScrape(attempt);
  result.body_bytes = body.size();
  if (result.failure == early::ScrapeFailure::kNone) result.exposition = std::move(**parsed);
  result.seconds = std::chrono::duration<double>(clock_.Monotonic() - started).count();
  return result;
}

}  // namespace nodeguard::agent
