#include "test_https_server.h"

#include <openssl/ssl.h>
// Before Boost.Asio: boost 1.74 awaitable.hpp uses std::exchange without including it.
#include <openssl/x509.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <istream>
#include <sstream>
#include <utility>

namespace nodeguard::kube::testing {

namespace asio = boost::asio;
using asio::ip::tcp;

void ServerExchange::Respond(int status, const std::string& body,
                             const std::map<std::string, std::string>& headers) {
  std::ostringstream out;
  out << "HTTP/1.1 " << status << " X\r\nContent-Length: " << body.size()
      << "\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) out << k << ": " << v << "\r\n";
  out << "\r\n" << body;
  Write(out.str());
}

void ServerExchange::StartChunked(int status, const std::map<std::string, std::string>& headers) {
  std::ostringstream out;
  out << "HTTP/1.1 " << status << " X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) out << k << ": " << v << "\r\n";
  out << "\r\n";
  Write(out.str());
}

bool ServerExchange::WriteChunk(std::string_view data) {
  std::ostringstream out;
  out << std::hex << data.size() << "\r\n" << data << "\r\n";
  return Write(out.str());
}

void ServerExchange::EndChunked() { Write("0\r\n\r\n"); }

struct TestHttpsServer::Impl {
  asio::io_context io;
  asio::ssl::context ssl{asio::ssl::context::tls_server};
  tcp::acceptor acceptor{io};
  Handler handler;
  std::thread accept_thread;
  std::mutex mu;
  std::condition_variable stop_cv;
  bool stopping = false;                  // Guarded by mu.
  std::vector<std::thread> connections;   // Guarded by mu.
  std::vector<ReceivedRequest> received;  // Guarded by mu.
  std::atomic<int>* handshake_failures = nullptr;

  void AcceptLoop();
  void Serve(tcp::socket socket);
};

namespace {

class Exchange final : public ServerExchange {
 public:
  Exchange(asio::ssl::stream<tcp::socket>& stream, ReceivedRequest request, std::mutex& mu,
           std::condition_variable& stop_cv, const bool& stopping)
      : stream_(stream),
        request_(std::move(request)),
        mu_(mu),
        stop_cv_(stop_cv),
        stopping_(stopping) {}
  const ReceivedRequest& request() const override { return request_; }
  bool Write(std::string_view bytes) override {
    boost::system::error_code ec;
    asio::write(stream_, asio::buffer(bytes.data(), bytes.size()), ec);
    return !ec;
  }
  void Stall(std::chrono::milliseconds max) override {
    std::unique_lock lock(mu_);
    stop_cv_.wait_for(lock, max, [&] { return stopping_; });
  }

 private:
  asio::ssl::stream<tcp::socket>& stream_;
  ReceivedRequest request_;
  std::mutex& mu_;
  std::condition_variable& stop_cv_;
  const bool& stopping_;
};

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void TestHttpsServer::Impl::AcceptLoop() {
  while (true) {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
    }
    boost::system::error_code ec;
    tcp::socket socket(io);
    acceptor.accept(socket, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    if (ec) return;
    std::lock_guard lock(mu);
    connections.emplace_back([this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
  }
}

void TestHttpsServer::Impl::Serve(tcp::socket socket) {
  boost::system::error_code ec;
  socket.non_blocking(false, ec);
  asio::ssl::stream<tcp::socket> stream(std::move(socket), ssl);
  stream.handshake(asio::ssl::stream_base::server, ec);
  if (ec) {
    ++*handshake_failures;
    return;
  }
  ReceivedRequest request;
  if (const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name)) {
    request.sni = sni;
  }
  if (X509* peer = SSL_get1_peer_certificate(stream.native_handle())) {
    char cn[256] = {0};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
    request.client_cn = cn;
    X509_free(peer);
  }
  asio::streambuf buf;
  asio::read_until(stream, buf, "\r\n\r\n", ec);
  if (ec) return;
  std::istream in(&buf);
  std::string line;
  std::getline(in, line);
  std::istringstream(line) >> request.method >> request.target;
  while (std::getline(in, line) && line != "\r") {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
    request.headers[Lower(line.substr(0, colon))] = value;
  }
  size_t length = 0;
  if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
    length = std::stoul(it->second);
  }
  if (buf.size() < length) asio::read(stream, buf, asio::transfer_exactly(length - buf.size()), ec);
  request.body.resize(length);
  in.read(request.body.data(), static_cast<std::streamsize>(length));
  {
    std::lock_guard lock(mu);
    received.push_back(request);
  }
  Exchange exchange(stream, std::move(request), mu, stop_cv, stopping);
  handler(exchange);
  stream.shutdown(ec);
  stream.lowest_layer().close(ec);
}

TestHttpsServer::TestHttpsServer(Options options, Handler handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->handshake_failures = &handshake_failures_;
  impl_->ssl.use_certificate_chain(asio::buffer(options.server.certificate_pem));
  impl_->ssl.use_private_key(asio::buffer(options.server.key_pem), asio::ssl::context::pem);
  if (!options.client_ca_pem.empty()) {
    impl_->ssl.add_certificate_authority(asio::buffer(options.client_ca_pem));
    impl_->ssl.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->acceptor.non_blocking(true);
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { impl_->AcceptLoop(); });
}

TestHttpsServer::~TestHttpsServer() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  impl_->accept_thread.join();
  std::vector<std::thread> connections;
  {
    std::lock_guard lock(impl_->mu);
    connections.swap(impl_->connections);
  }
  for (auto& t : connections) t.join();
}

std::vector<ReceivedRequest> TestHttpsServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->received;
}

}  // namespace nodeguard::kube::testing
