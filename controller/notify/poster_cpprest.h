#pragma once

// The production Poster: an HTTPS POST through the kube transport
// (cpprestsdk, kube/transport_cpprest.h), one client per receiver origin,
// kept for reuse. TLS is verified against the system CAs, or only against
// `ca_pem` when set (tests, private receivers); the proxy comes from
// HTTPS_PROXY/NO_PROXY (proxy.h). An Error's message has the URL's path and
// query cut (they carry tokens); only scheme and host remain. A TLS failure
// has reason kTlsFailure (worker.h).

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kube/http.h"
#include "notify/proxy.h"
#include "notify/worker.h"

namespace nodeguard::notify {

struct PosterOptions {
  std::string ca_pem;  // Empty: the system trust store.
  ProxyEnvironment proxy = ProxyEnvironment::FromProcess();
  std::string user_agent = "nodeguard-notify";
};

class CpprestPoster final : public Poster {
 public:
  explicit CpprestPoster(PosterOptions options) : options_(std::move(options)) {}
  Result<PostResponse> Post(const OutboundRequest& request, Duration timeout) override;

 private:
  Result<kube::HttpClient*> ClientFor(const std::string& origin, const std::string& url);

  const PosterOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<kube::HttpClient>> clients_;  // Guarded by mu_.
};

}  // namespace nodeguard::notify
