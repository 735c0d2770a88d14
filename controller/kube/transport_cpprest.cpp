#include "kube/transport_cpprest.h"

#include <cpprest/http_client.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

namespace nodeguard::kube {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;
using std::chrono::steady_clock;

// How often a blocked wait looks at the caller's CancelToken.
constexpr std::chrono::milliseconds kCancelPoll{50};
constexpr size_t kReadBufferSize = 64 * 1024;
// How long an abandoned request may take to fail once its connection is closed.
constexpr std::chrono::seconds kAbandonSettle{2};

struct TlsMaterial {
  std::string ca_pem;
  std::string client_certificate_pem;
  std::string client_key_pem;
};

// Throws boost::system::system_error when the material cannot be loaded.
void ConfigureTls(boost::asio::ssl::context& ctx, const TlsMaterial& tls) {
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  if (!tls.ca_pem.empty()) {
    // The configured CA is the only trust anchor: replace the store that
    // cpprest filled with the system's default paths.
    SSL_CTX_set_cert_store(ctx.native_handle(), X509_STORE_new());
    ctx.add_certificate_authority(boost::asio::buffer(tls.ca_pem));
  }
  if (!tls.client_certificate_pem.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(tls.client_certificate_pem));
    ctx.use_private_key(boost::asio::buffer(tls.client_key_pem), boost::asio::ssl::context::pem);
  }
}

// Set by a task continuation; waited on with a deadline so that a caller is
// never blocked past it by cpprest.
struct Completion {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // Guarded by mu.
};

enum class Waited { kDone, kDeadline, kCancelled };

template <typename T>
Waited WaitFor(pplx::task<T> task, SteadyTime deadline, const CancelToken* cancel) {
  auto completion = std::make_shared<Completion>();
  task.then([completion](pplx::task<T> done) {
    // Observe any exception here: pplx aborts the process (SIGTRAP) when a
    // faulted task that was abandoned (deadline, cancel) is destroyed unobserved.
    try {
      done.get();
    } catch (...) {
    }
    {
      std::lock_guard lock(completion->mu);
      completion->done = true;
    }
    completion->cv.notify_all();
  });
  std::unique_lock lock(completion->mu);
  while (!completion->done) {
    if (cancel != nullptr && cancel->cancelled()) return Waited::kCancelled;
    const auto now = steady_clock::now();
    if (now >= deadline) return Waited::kDeadline;
    completion->cv.wait_for(lock, std::min<steady_clock::duration>(deadline - now, kCancelPoll));
  }
  return Waited::kDone;
}

// Abandons an in-flight task: cancelling its token closes the connection, so
// the task fails promptly; waiting for that (bounded) means no cpprest work for
// this request outlives the call that started it.
template <typename T>
void Abandon(pplx::cancellation_token_source& abort, const pplx::task<T>& pending) {
  abort.cancel();
  WaitFor(pending, steady_clock::now() + kAbandonSettle, nullptr);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

class CpprestHttpClient final : public HttpClient {
 public:
  CpprestHttpClient(const ClientConfig& config, web::http::client::http_client_config http_config)
      : server_(config.server),
        token_(config.token),
        user_agent_(config.user_agent),
        tls_server_name_(config.tls_server_name),
        client_(web::uri(utility::conversions::to_string_t(config.server)), http_config) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    return Exchange(request, nullptr, nullptr, std::chrono::milliseconds(0));
  }

  Result<HttpResponse> Stream(const HttpRequest& request, const ChunkHandler& on_chunk,
                              const CancelToken& cancel,
                              std::chrono::milliseconds idle_timeout) override {
    return Exchange(request, &on_chunk, &cancel, idle_timeout);
  }

 private:
  // One call's request, the caller's hooks and the source whose cancelling
  // closes the connection: what the steps of Exchange share.
  struct Call {
    const HttpRequest& request;
    const ChunkHandler* on_chunk;  // nullptr: unary.
    const CancelToken* cancel;
    std::chrono::milliseconds idle_timeout;
    pplx::cancellation_token_source abort;
  };

  // One request. on_chunk == nullptr: unary (the whole exchange within
  // request.timeout, body collected). Otherwise a stream.
  Result<HttpResponse> Exchange(const HttpRequest& request, const ChunkHandler* on_chunk,
                                const CancelToken* cancel, std::chrono::milliseconds idle_timeout);
  // The cpprest message for `request`, with the default headers and the token.
  Result<web::http::http_request> BuildMessage(const HttpRequest& request) const;
  // Sends `message` and waits until `deadline` for the status line and
  // headers, which go into `out`.
  Result<web::http::http_response> AwaitHead(Call& call, const web::http::http_request& message,
                                             SteadyTime deadline, HttpResponse& out);
  // Reads the body: to on_chunk when `streaming`, else into out.body. Each
  // read must complete by `deadline`, which a stream moves on every chunk.
  Status ReadBody(Call& call, web::http::http_response& response, bool streaming,
                  SteadyTime deadline, HttpResponse& out);
  // Waits for at least one byte of the body and takes what else is buffered,
  // up to the buffer's size; 0 at the end of the body.
  Result<size_t> ReadChunk(Call& call, concurrency::streams::streambuf<uint8_t>& body,
                           const std::shared_ptr<std::vector<uint8_t>>& buffer, bool streaming,
                           SteadyTime deadline);

  Error Describe(const HttpRequest& request, ErrorKind kind, const std::string& what) const {
    return Error::Of(kind, request.method + " " + server_ + request.path_and_query + ": " + what);
  }

  const std::string server_;
  const std::shared_ptr<TokenSource> token_;
  const std::string user_agent_;
  const std::string tls_server_name_;
  web::http::client::http_client client_;  // Thread-safe; pools connections.
};

Result<HttpResponse> CpprestHttpClient::Exchange(const HttpRequest& request,
                                                 const ChunkHandler* on_chunk,
                                                 const CancelToken* cancel,
                                                 std::chrono::milliseconds idle_timeout) {
  Result<web::http::http_request> message = BuildMessage(request);
  if (!message.ok()) return message.error();

  Call call{request, on_chunk, cancel, idle_timeout, {}};
  const SteadyTime request_deadline = steady_clock::now() + request.timeout;
  HttpResponse out;
  Result<web::http::http_response> response = AwaitHead(call, *message, request_deadline, out);
  if (!response.ok()) return response.error();

  // A stream hands a 200 body to on_chunk; any other status is an error body
  // read whole (within the request timeout, counted from now).
  const bool streaming = on_chunk != nullptr && out.status == 200;
  const SteadyTime deadline = streaming             ? steady_clock::now() + idle_timeout
                              : on_chunk != nullptr ? steady_clock::now() + request.timeout
                                                    : request_deadline;
  if (Status read = ReadBody(call, *response, streaming, deadline, out); !read.ok()) {
    return read.error();
  }
  return out;
}

Result<web::http::http_request> CpprestHttpClient::BuildMessage(const HttpRequest& request) const {
  web::http::http_request message(request.method);
  std::string content_type = "application/json";
  try {
    message.set_request_uri(web::uri(request.path_and_query));
    for (const auto& [name, value] : request.headers) {
      if (Lower(name) == "content-type") {
        content_type = value;
      } else {
        message.headers().add(name, value);
      }
    }
    if (!message.headers().has("Accept")) message.headers().add("Accept", "application/json");
    if (!message.headers().has("User-Agent")) message.headers().add("User-Agent", user_agent_);
    // cpprest uses the Host header, when present, for SNI and the verified name.
    if (!tls_server_name_.empty()) message.headers().add("Host", tls_server_name_);
    if (token_) {
      auto token = token_->Token();
      if (!token.ok()) return token.error();
      message.headers().add("Authorization", "Bearer " + token.value());
    }
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      message.set_body(request.body, content_type);
    }
  } catch (const std::exception& e) {
    return Describe(request, ErrorKind::kInvalid, std::string("bad request: ") + e.what());
  }
  return message;
}

Result<web::http::http_response> CpprestHttpClient::AwaitHead(
    Call& call, const web::http::http_request& message, SteadyTime deadline, HttpResponse& out) {
  namespace http = web::http;
  const HttpRequest& request = call.request;
  pplx::task<http::http_response> response_task;
  try {
    response_task = client_.request(message, call.abort.get_token());
  } catch (const std::exception& e) {
    return Describe(request, ErrorKind::kUnavailable, e.what());
  }
  switch (WaitFor(response_task, deadline, call.cancel)) {
    case Waited::kDone:
      break;
    case Waited::kDeadline:
      Abandon(call.abort, response_task);
      return Describe(request, ErrorKind::kTimeout,
                      "no response within " + Millis(request.timeout));
    case Waited::kCancelled:
      Abandon(call.abort, response_task);
      return Describe(request, ErrorKind::kCancelled, "cancelled");
  }
  http::http_response response;
  try {
    response = response_task.get();
    out.status = response.status_code();
    for (const auto& [name, value] : response.headers()) out.headers[Lower(name)] = value;
  } catch (const http::http_exception& e) {
    const bool timed_out = e.error_code() == std::errc::timed_out;
    return Describe(request, timed_out ? ErrorKind::kTimeout : ErrorKind::kUnavailable, e.what());
  } catch (const std::exception& e) {
    return Describe(request, ErrorKind::kUnavailable, e.what());
  }
  return response;
}

Status CpprestHttpClient::ReadBody(Call& call, web::http::http_response& response, bool streaming,
                                   SteadyTime deadline, HttpResponse& out) {
  // Shared with the read continuations so an abandoned read never writes
  // into freed memory.
  auto buffer = std::make_shared<std::vector<uint8_t>>(kReadBufferSize);
  auto body = response.body().streambuf();
  while (true) {
    Result<size_t> n = ReadChunk(call, body, buffer, streaming, deadline);
    if (!n.ok()) return n.error();
    if (*n == 0) break;  // End of body.
    const std::string_view chunk(reinterpret_cast<const char*>(buffer->data()), *n);
    if (streaming) {
      if (!(*call.on_chunk)(chunk)) {
        call.abort.cancel();  // The rest of the stream is unwanted: drop the connection.
        return Status::Ok();
      }
      deadline = steady_clock::now() + call.idle_timeout;
    } else {
      out.body.append(chunk);
    }
  }
  return Status::Ok();
}

Result<size_t> CpprestHttpClient::ReadChunk(Call& call,
                                            concurrency::streams::streambuf<uint8_t>& body,
                                            const std::shared_ptr<std::vector<uint8_t>>& buffer,
                                            bool streaming, SteadyTime deadline) {
  namespace http = web::http;
  const HttpRequest& request = call.request;
  pplx::task<size_t> first;
  try {
    first = body.getn(buffer->data(), 1);  // Completes when a byte (or EOF) arrives.
  } catch (const std::exception& e) {
    call.abort.cancel();
    return Describe(request, ErrorKind::kUnavailable, e.what());
  }
  // Only an abandoned read needs the buffer kept alive (and its failure
  // observed) by a continuation; a completed one is read below. Fewer
  // continuations also means fewer left queued on cpprest's pool at exit.
  const auto keep_buffer_until_done = [&first, buffer] {
    first.then([buffer](pplx::task<size_t> done) {
      try {
        done.get();
      } catch (...) {  // Observed: nobody wants this read any more.
      }
    });
  };
  switch (WaitFor(first, deadline, call.cancel)) {
    case Waited::kDone:
      break;
    case Waited::kDeadline:
      keep_buffer_until_done();
      Abandon(call.abort, first);
      return Describe(request, ErrorKind::kTimeout,
                      streaming ? "stream idle for " + Millis(call.idle_timeout)
                                : "response body not received within " + Millis(request.timeout));
    case Waited::kCancelled:
      keep_buffer_until_done();
      Abandon(call.abort, first);
      return Describe(request, ErrorKind::kCancelled, "cancelled");
  }
  size_t n = 0;
  try {
    n = first.get();
    if (n == 0) return n;  // End of body.
    const size_t more = std::min<size_t>(body.in_avail(), buffer->size() - 1);
    if (more > 0) n += body.getn(buffer->data() + 1, more).get();  // Already buffered.
  } catch (const http::http_exception& e) {
    const bool timed_out = e.error_code() == std::errc::timed_out;
    return Describe(request, timed_out ? ErrorKind::kTimeout : ErrorKind::kUnavailable,
                    std::string("reading body: ") + e.what());
  } catch (const std::exception& e) {
    return Describe(request, ErrorKind::kUnavailable, std::string("reading body: ") + e.what());
  }
  return n;
}

}  // namespace

Result<std::unique_ptr<HttpClient>> MakeCpprestHttpClient(const ClientConfig& config,
                                                          const CpprestOptions& options) {
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return Error::Invalid("server \"" + config.server + "\" is not an http(s) URL");
  }
  if (!web::uri::validate(config.server)) {
    return Error::Invalid("server \"" + config.server + "\" is not a valid URL");
  }
  auto tls = std::make_shared<const TlsMaterial>(
      TlsMaterial{config.ca_pem, config.client_certificate_pem, config.client_key_pem});
  // Load the material once now so bad PEM fails here, with a clear message.
  try {
    boost::asio::ssl::context probe(boost::asio::ssl::context::tls_client);
    ConfigureTls(probe, *tls);
  } catch (const std::exception& e) {
    return Error::Invalid(std::string("TLS configuration for ") + config.server + ": " + e.what());
  }
  web::http::client::http_client_config http_config;
  http_config.set_timeout(options.socket_timeout);
  http_config.set_validate_certificates(!config.insecure_skip_tls_verify);
  if (!options.proxy.empty()) {
    if (!web::uri::validate(options.proxy)) return Error::Invalid("the proxy is not a valid URL");
    http_config.set_proxy(
        web::web_proxy(web::uri(utility::conversions::to_string_t(options.proxy))));
  }
  http_config.set_ssl_context_callback(
      [tls](boost::asio::ssl::context& ctx) { ConfigureTls(ctx, *tls); });
  try {
    return std::unique_ptr<HttpClient>(std::make_unique<CpprestHttpClient>(config, http_config));
  } catch (const std::exception& e) {
    return Error::Invalid("server \"" + config.server + "\": " + e.what());
  }
}

}  // namespace nodeguard::kube
