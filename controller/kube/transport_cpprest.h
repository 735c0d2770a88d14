#pragma once

// The production HttpClient: cpprestsdk's http_client over Boost.Asio with TLS
// through OpenSSL. No cpprest type appears in this header.
//
// TLS: when the config carries a CA, it is the only trust anchor (the system
// store is dropped, as client-go does); the server certificate is verified and
// its name checked against tls_server_name or the server's host (IP SANs for
// IP addresses); tls_server_name is also sent as SNI. insecure_skip_tls_verify
// turns verification off. Client certificate and key come from memory. TLS 1.2+.
//
// Deadlines are enforced here, not by cpprest: HttpRequest::timeout bounds a
// unary call and the wait for a stream's headers; a stream's idle_timeout
// bounds the gap between two chunks. A request past its deadline, cancelled,
// or abandoned by its ChunkHandler has its connection closed (never pooled).

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "kube/config.h"
#include "kube/http.h"

namespace nodeguard::kube {

struct CpprestOptions {
  // cpprest's own inactivity timer, a backstop behind the deadlines above;
  // longer than any watch's server-side timeout.
  std::chrono::seconds socket_timeout{std::chrono::minutes(30)};
  // "http://proxy:3128": requests go through this HTTP proxy (CONNECT for
  // https). Empty: direct. Credentials in the URL are not supported. The API
  // server client leaves it empty; outbound webhooks (notify/) set it from
  // HTTPS_PROXY/NO_PROXY.
  std::string proxy;
};

// Builds a client for config.server. Errors (kInvalid) when the server URL,
// CA, client certificate or key cannot be used, so misconfiguration fails at
// start-up rather than on the first request.
Result<std::unique_ptr<HttpClient>> MakeCpprestHttpClient(const ClientConfig& config,
                                                          const CpprestOptions& options = {});

}  // namespace nodeguard::kube
