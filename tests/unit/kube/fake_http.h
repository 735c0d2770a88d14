#pragma once

// A scripted HttpClient: each Send/Stream pops the next scripted reply (or
// asks a handler) and records the request.

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "kube/http.h"

namespace nodeguard::kube::testing {

class FakeHttpClient final : public HttpClient {
 public:
  struct Reply {
    Result<HttpResponse> response = HttpResponse{};
    std::vector<std::string> chunks;  // Streamed to on_chunk (Stream only, status 200).
  };

  static Reply Respond(int status, std::string body,
                       std::map<std::string, std::string> headers = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    return Reply{r, {}};
  }
  static Reply Fail(Error error) { return Reply{std::move(error), {}}; }

  void Push(Reply reply) {
    std::lock_guard lock(mu_);
    replies_.push_back(std::move(reply));
  }
  // Used when the script is empty.
  void SetHandler(std::function<Reply(const HttpRequest&)> handler) {
    std::lock_guard lock(mu_);
    handler_ = std::move(handler);
  }

  Result<HttpResponse> Send(const HttpRequest& request) override {
    Reply reply = Next(request);
    if (reply.response.ok()) {
      for (const auto& c : reply.chunks) reply.response->body += c;
    }
    return reply.response;
  }

  Result<HttpResponse> Stream(const HttpRequest& request, const ChunkHandler& on_chunk,
                              const CancelToken& cancel, std::chrono::milliseconds) override {
    Reply reply = Next(request);
    if (!reply.response.ok() || reply.response->status != 200) return reply.response;
    for (const auto& c : reply.chunks) {
      if (cancel.cancelled()) return Error::Cancelled("cancelled");
      if (!on_chunk(c)) break;
    }
    return reply.response;
  }

  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  Reply Next(const HttpRequest& request) {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    if (!replies_.empty()) {
      Reply r = std::move(replies_.front());
      replies_.pop_front();
      return r;
    }
    if (handler_) return handler_(request);
    return Fail(Error::Internal("FakeHttpClient: no scripted reply for " + request.method + " " +
                                request.path_and_query));
  }

  mutable std::mutex mu_;
  std::deque<Reply> replies_;                         // Guarded by mu_.
  std::function<Reply(const HttpRequest&)> handler_;  // Guarded by mu_.
  std::vector<HttpRequest> requests_;                 // Guarded by mu_.
};

}  // namespace nodeguard::kube::testing
