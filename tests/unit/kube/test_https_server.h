#pragma once

// A small HTTPS server on 127.0.0.1 for transport tests. One request per
// connection (it answers with Connection: close); each connection runs the
// test's handler on its own thread, which writes the response byte by byte as
// the test scripts it (chunks, stalls, abrupt closes).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>  // Before Boost.Asio 1.74, whose awaitable.hpp needs std::exchange.
#include <vector>

#include "test_pki.h"

namespace nodeguard::kube::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;                          // Path and query.
  std::map<std::string, std::string> headers;  // Lower-cased keys.
  std::string body;
  std::string sni;        // Server name the client sent, if any.
  std::string client_cn;  // Subject CN of the client certificate, if any.
};

class ServerExchange {
 public:
  virtual ~ServerExchange() = default;
  virtual const ReceivedRequest& request() const = 0;
  // Returns false once the client has gone.
  virtual bool Write(std::string_view bytes) = 0;
  // Blocks for up to `max`, or until the server stops.
  virtual void Stall(std::chrono::milliseconds max) = 0;

  void Respond(int status, const std::string& body,
               const std::map<std::string, std::string>& headers = {});
  void StartChunked(int status, const std::map<std::string, std::string>& headers = {});
  bool WriteChunk(std::string_view data);
  void EndChunked();
};

class TestHttpsServer {
 public:
  using Handler = std::function<void(ServerExchange&)>;
  struct Options {
    KeyPair server;
    std::string client_ca_pem;  // Non-empty: require a client certificate signed by it.
  };

  TestHttpsServer(Options options, Handler handler);
  TestHttpsServer(const TestHttpsServer&) = delete;
  TestHttpsServer& operator=(const TestHttpsServer&) = delete;
  ~TestHttpsServer();

  int port() const { return port_; }
  std::string url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(port_);
  }
  std::vector<ReceivedRequest> requests() const;
  int handshake_failures() const { return handshake_failures_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::atomic<int> handshake_failures_{0};
};

}  // namespace nodeguard::kube::testing
