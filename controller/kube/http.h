#pragma once

// The one narrow HTTP seam. Everything above it (REST, watch, leader election)
// speaks to this interface; the only implementation in production uses
// cpprestsdk (archived upstream), so swapping it means writing one class.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace nodeguard::kube {

struct HttpRequest {
  std::string method = "GET";  // GET, POST, PUT, PATCH, DELETE.
  std::string path_and_query;  // "/api/v1/nodes?limit=500", already escaped.
  std::map<std::string, std::string> headers;
  std::string body;
  // Whole-request deadline for unary calls; for streams, the deadline to
  // receive the response headers (the body may then flow indefinitely).
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // Keys lower-cased.
  std::string body;
};

// Cooperative cancellation shared between a caller and a long-lived stream.
// Thread-safe.
class CancelToken {
 public:
  virtual ~CancelToken() = default;
  virtual bool cancelled() const = 0;
};

// A CancelToken its owner cancels explicitly. Thread-safe.
class CancelFlag final : public CancelToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const override { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> cancelled_{false};
};

// Called with each chunk of a streamed body as it arrives; return false to stop.
using ChunkHandler = std::function<bool(std::string_view chunk)>;

// A connection to one API server. Implementations are thread-safe.
class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Sends a request and reads the whole body. Transport failures (refused,
  // reset, TLS, timeout) are Errors of kind kUnavailable or kTimeout; any HTTP
  // status, including 4xx/5xx, is a successful HttpResponse.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;

  // Sends a request and streams the body to on_chunk until the server closes
  // it, on_chunk returns false, cancel is cancelled, or no byte arrives for
  // idle_timeout (a stalled stream: Error kTimeout). The returned response
  // has status and headers; its body holds the error body when status != 200.
  virtual Result<HttpResponse> Stream(const HttpRequest& request, const ChunkHandler& on_chunk,
                                      const CancelToken& cancel,
                                      std::chrono::milliseconds idle_timeout) = 0;
};

}  // namespace nodeguard::kube
