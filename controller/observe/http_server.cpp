#include "observe/http_server.h"

#include <cpprest/http_listener.h>
#include <cpprest/uri.h>

#include <charconv>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

namespace nodeguard::observe {

namespace {

namespace http = web::http;
using http::experimental::listener::http_listener;

struct Route {
  std::string path;
  HttpHandler handler;
  bool subtree = false;
};

// Finds the exact route, else the longest subtree route containing path.
const Route* Match(const std::vector<Route>& routes, std::string_view path) {
  const Route* best = nullptr;
  for (const Route& route : routes) {
    if (route.path == path) return &route;
    if (route.subtree && path.size() > route.path.size() &&
        path.substr(0, route.path.size()) == route.path && path[route.path.size()] == '/' &&
        (best == nullptr || route.path.size() > best->path.size())) {
      best = &route;
    }
  }
  return best;
}

class CppRestHttpServer final : public HttpServer {
 public:
  explicit CppRestHttpServer(std::string address) : address_(std::move(address)) {}
  ~CppRestHttpServer() override { Stop(); }

  void Handle(std::string path, HttpHandler handler, bool subtree) override {
    routes_.push_back(Route{std::move(path), std::move(handler), subtree});
  }

  Status Start() override {
    auto parsed = ParseListenAddress(address_);
    if (!parsed.ok()) return parsed.error();
    std::string host = parsed->host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    std::string uri = "http://" + host + ":" + std::to_string(parsed->port) + "/";
    std::lock_guard lock(mu_);
    if (listener_) return Status::Ok();
    try {
      auto listener = std::make_unique<http_listener>(uri);
      listener->support([this](http::http_request request) { Serve(std::move(request)); });
      listener->open().wait();
      listener_ = std::move(listener);
    } catch (const std::exception& e) {
      return Error::Unavailable("listen on " + address_ + ": " + e.what());
    }
    return Status::Ok();
  }

  void Stop() override {
    std::lock_guard lock(mu_);
    if (!listener_) return;
    try {
      listener_->close().wait();
    } catch (const std::exception&) {
      // Closing a listener whose connections already failed: nothing left to release.
    }
    listener_.reset();
  }

  const std::string& address() const override { return address_; }

 private:
  void Serve(http::http_request request) {
    HttpServerReply reply;
    try {
      HttpServerRequest req;
      req.method = request.method();
      const web::uri& relative = request.relative_uri();
      req.path = web::uri::decode(relative.path());
      if (req.path.empty()) req.path = "/";
      req.query = ParseQuery(relative.query());
      if (const Route* route = Match(routes_, req.path)) {
        reply = route->handler(req);
      } else {
        reply = HttpServerReply{404, "text/plain; charset=utf-8", "404 page not found\n"};
      }
    } catch (const std::exception& e) {
      reply = HttpServerReply{500, "text/plain; charset=utf-8",
                              std::string("internal error: ") + e.what() + "\n"};
    }
    http::http_response response(static_cast<http::status_code>(reply.status));
    // A byte vector, not set_body(std::string): cpprest reads a string body
    // through a streambuf<char> cast to streambuf<uint8_t>, which UBSan
    // (vptr) rejects in the sanitizer build.
    response.headers().set_content_type(reply.content_type);
    response.set_body(std::vector<unsigned char>(reply.body.begin(), reply.body.end()));
    response.headers().add("X-Content-Type-Options", "nosniff");
    request.reply(response).then([](pplx::task<void> sent) {
      try {
        sent.get();
      } catch (const std::exception&) {
        // The client went away before the reply was sent: nothing to do.
      }
    });
  }

  const std::string address_;
  std::vector<Route> routes_;  // Written before Start(), then read-only.
  std::mutex mu_;              // Guards listener_.
  std::unique_ptr<http_listener> listener_;
};

}  // namespace

bool HttpServerRequest::HasParam(std::string_view key) const {
  for (const auto& [k, v] : query) {
    if (k == key) return true;
  }
  return false;
}

std::vector<std::string> HttpServerRequest::ParamValues(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : query) {
    if (k == key) out.push_back(v);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view raw) {
  auto decode = [](std::string_view part) {
    std::string plus_as_space(part);
    for (char& c : plus_as_space) {
      if (c == '+') c = ' ';
    }
    try {
      return web::uri::decode(plus_as_space);
    } catch (const std::exception&) {
      return plus_as_space;  // A malformed %-escape: keep the text as sent.
    }
  };
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= raw.size()) {
    size_t end = raw.find('&', start);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view item = raw.substr(start, end - start);
    if (!item.empty()) {
      size_t eq = item.find('=');
      if (eq == std::string_view::npos) {
        out.emplace_back(decode(item), "");
      } else {
        out.emplace_back(decode(item.substr(0, eq)), decode(item.substr(eq + 1)));
      }
    }
    start = end + 1;
  }
  return out;
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  auto invalid = [&](const std::string& why) {
    return Error::Invalid("listen address \"" + std::string(text) + "\": " + why);
  };
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return invalid("want host:port or :port");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return invalid("put IPv6 hosts in brackets: [::1]:8080");
  }
  int port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port < 1 || port > 65535) {
    return invalid("port must be 1..65535");
  }
  ListenAddress address;
  address.host = host.empty() ? "0.0.0.0" : std::string(host);
  address.port = port;
  return address;
}

std::unique_ptr<HttpServer> NewCppRestHttpServer(std::string address) {
  return std::make_unique<CppRestHttpServer>(std::move(address));
}

}  // namespace nodeguard::observe
