#include "notify/poster_cpprest.h"

#include <cctype>

#include "kube/config.h"
#include "kube/transport_cpprest.h"
#include "notify/sink.h"

namespace nodeguard::notify {
namespace {

// Replaces every occurrence of `secret` in `text`.
std::string Scrub(std::string text, const std::string& secret, const std::string& with) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + with.size())) {
    text.replace(at, secret.size(), with);
  }
  return text;
}

// The transport reports a failed handshake or certificate check only in its
// message (OpenSSL's and Boost.Asio's words, e.g. "handshake: certificate
// verify failed"), so that is where TLS failures are told apart from the
// network's: the metric's reason `tls` points at the CA, not the receiver.
bool LooksLikeTls(std::string message) {
  for (char& c : message) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* word : {"ssl", "tls", "certificate", "handshake"}) {
    if (message.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

Result<kube::HttpClient*> CpprestPoster::ClientFor(const std::string& origin,
                                                   const std::string& url) {
  std::lock_guard lock(mu_);
  auto it = clients_.find(origin);
  if (it != clients_.end()) return it->second.get();
  kube::ClientConfig config;
  config.server = origin;
  config.ca_pem = options_.ca_pem;
  config.user_agent = options_.user_agent;
  config.description = "notification receiver " + RedactUrl(url);
  kube::CpprestOptions cpprest;
  cpprest.socket_timeout = std::chrono::seconds(60);
  cpprest.proxy = ProxyFor(url, options_.proxy);
  auto client = kube::MakeCpprestHttpClient(config, cpprest);
  if (!client.ok()) {
    return Error::Invalid("notification receiver " + RedactUrl(url) + ": " +
                          ErrorKindName(client.error().kind));
  }
  auto* raw = client->get();
  clients_.emplace(origin, std::move(*client));
  return raw;
}

Result<PostResponse> CpprestPoster::Post(const OutboundRequest& request, Duration timeout) {
  const size_t scheme_end = request.url.find("://");
  if (scheme_end == std::string::npos) return Error::Invalid("not a URL: (redacted)");
  const size_t path_at = request.url.find_first_of("/?#", scheme_end + 3);
  const std::string origin = request.url.substr(0, path_at);
  std::string path = path_at == std::string::npos ? "/" : request.url.substr(path_at);
  if (path.front() != '/') path.insert(0, "/");
  auto client = ClientFor(origin, request.url);
  if (!client.ok()) return client.error();
  kube::HttpRequest http;
  http.method = "POST";
  http.path_and_query = path;
  http.headers = request.headers;
  http.body = request.body;
  http.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  auto response = (*client)->Send(http);
  if (!response.ok()) {
    Error e = response.error();
    if (e.kind != ErrorKind::kTimeout && LooksLikeTls(e.message)) e.reason = kTlsFailure;
    e.message = Scrub(e.message, path, "/\xE2\x80\xA6");
    return e;
  }
  PostResponse out;
  out.status = response->status;
  if (auto it = response->headers.find("retry-after"); it != response->headers.end()) {
    out.retry_after = it->second;
  }
  return out;
}

}  // namespace nodeguard::notify
