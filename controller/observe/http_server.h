#pragma once

// A minimal HTTP server seam for /metrics, /healthz and /readyz. Handlers are
// plain functions from a request to (status, content type, body); the only
// implementation wraps cpprestsdk's http_listener (archived upstream), so
// replacing it means writing one class.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace nodeguard::observe {

struct HttpServerRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string path;    // Decoded path, e.g. "/healthz/informers".
  // Decoded parameters in order, repeats kept; a bare key ("?verbose") has value "".
  std::vector<std::pair<std::string, std::string>> query;

  bool HasParam(std::string_view key) const;
  std::vector<std::string> ParamValues(std::string_view key) const;
};

// Splits and percent-decodes a raw query string ("a=1&b&a=2").
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view raw);

struct HttpServerReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called on a server thread; must be thread-safe and must not block for long.
using HttpHandler = std::function<HttpServerReply(const HttpServerRequest&)>;

// Serves registered paths on one address. Unknown paths get 404.
class HttpServer {
 public:
  virtual ~HttpServer() = default;

  // Serves `path` exactly, and every path under it when `subtree` (so
  // "/healthz" also answers "/healthz/informers").
  // REQUIRES: called before Start().
  virtual void Handle(std::string path, HttpHandler handler, bool subtree = false) = 0;

  // Starts listening. Errors: kInvalid for a bad address, kUnavailable when
  // the address cannot be bound.
  virtual Status Start() = 0;

  // Stops listening and waits for in-flight requests. Idempotent.
  virtual void Stop() = 0;

  // "127.0.0.1:8080" as configured.
  virtual const std::string& address() const = 0;
};

// An address as flags take it: "host:port", ":port" (every interface),
// "[::1]:port". Port 0 is rejected: the listener cannot report the port it got.
struct ListenAddress {
  std::string host;  // "0.0.0.0" when the flag gave none.
  int port = 0;
};
Result<ListenAddress> ParseListenAddress(std::string_view text);

// A server built on cpprestsdk's http_listener.
std::unique_ptr<HttpServer> NewCppRestHttpServer(std::string address);

}  // namespace nodeguard::observe
