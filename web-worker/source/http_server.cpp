// Boost.Beast behind http_server.h.
#include "funkhaus/web/http_server.h"

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <cstring>

namespace funkhaus::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr uint32_t kMaxHeaderBytes = 48 * 1024;

std::string addressText(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  return address.to_string();
}

struct Shared {
  HttpServer::Handler handler;
  HttpServerOptions options;
  HttpCounters counters;
};

// One connection: (handshake,) one request, the handler, one reply, close.
template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(std::shared_ptr<Shared> shared, Stream stream, bool https)
      : shared_(std::move(shared)), stream_(std::move(stream)), https_(https) {
    ++shared_->counters.open;
  }
  ~Connection() { --shared_->counters.open; }

  void start() {
    auto self = this->shared_from_this();
    tcpStream().expires_after(shared_->options.read_timeout);
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) return self->failed("TLS handshake", ec);
        self->read();
      });
    } else {
      read();
    }
  }

 private:
  beast::tcp_stream& tcpStream() { return beast::get_lowest_layer(stream_); }

  void failed(const char* what, beast::error_code ec) {
    ++shared_->counters.failed;
    spdlog::debug("{} {}: {}: {}", https_ ? "https" : "http", peer_, what, ec.message());
    beast::error_code ignored;
    tcpStream().socket().close(ignored);
  }

  void read() {
    beast::error_code ec;
    const auto remote = tcpStream().socket().remote_endpoint(ec);
    const auto local = tcpStream().socket().local_endpoint(ec);
    if (ec) return failed("endpoints", ec);
    peer_ = addressText(remote.address());
    local_ = addressText(local.address());
    parser_.header_limit(kMaxHeaderBytes);
    parser_.body_limit(0);
    auto self = this->shared_from_this();
    http::async_read(stream_, buffer_, parser_, [self](beast::error_code read_ec, size_t) {
      if (read_ec) return self->failed("reading the request", read_ec);
      self->dispatch();
    });
  }

  void dispatch() {
    const auto& request = parser_.get();
    if (request.method() != http::verb::get) {
      ApiResponse response{405, "text/plain", "GameStream takes GET only\n"};
      return write(std::move(response));
    }
    ApiRequest api;
    api.target = std::string(request.target());
    api.https = https_;
    api.peer_address = peer_;
    api.local_address = local_;
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      if (X509* cert = SSL_get0_peer_certificate(stream_.native_handle()))
        api.client_cert = Certificate::adopt(cert);
    }
    // The reply may come much later (getservercert waits for the PIN): no read is pending,
    // so the stream's timer is off until the write.
    tcpStream().expires_never();
    auto self = this->shared_from_this();
    shared_->handler(std::move(api),
                     [self](ApiResponse response) { self->write(std::move(response)); });
  }

  void write(ApiResponse response) {
    if (responded_) return;
    responded_ = true;
    response_.result(response.http_status);
    response_.version(11);
    response_.set(http::field::server, "funkhaus");
    response_.set(http::field::content_type, response.content_type);
    response_.keep_alive(false);
    response_.body() = std::move(response.body);
    response_.prepare_payload();
    tcpStream().expires_after(shared_->options.write_timeout);
    auto self = this->shared_from_this();
    http::async_write(stream_, response_, [self](beast::error_code ec, size_t) {
      if (ec) return self->failed("writing the reply", ec);
      ++self->shared_->counters.connections;
      self->close();
    });
  }

  void close() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      auto self = this->shared_from_this();
      tcpStream().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self](beast::error_code) {
        beast::error_code ignored;
        self->tcpStream().socket().close(ignored);
      });
    } else {
      beast::error_code ignored;
      tcpStream().socket().shutdown(tcp::socket::shutdown_send, ignored);
      tcpStream().socket().close(ignored);
    }
  }

  std::shared_ptr<Shared> shared_;
  Stream stream_;
  bool https_;
  bool responded_ = false;
  std::string peer_, local_;
  beast::flat_buffer buffer_;
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> response_;
};

class BeastServer final : public HttpServer {
 public:
  BeastServer(asio::io_context& io, std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)), tls_(ssl::context::tls_server), http_(io), https_(io) {}

  ~BeastServer() override {
    beast::error_code ignored;
    http_.close(ignored);
    https_.close(ignored);
  }

  Result<void> init(UniqueFd http_fd, UniqueFd https_fd, const std::string& cert_pem,
                    const std::string& key_pem) {
    beast::error_code ec;
    SSL_CTX* ctx = tls_.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use);
    tls_.use_certificate(asio::buffer(cert_pem), ssl::context::pem, ec);
    if (ec) return makeError(ErrorCode::kBadConfig, "host certificate: {}", ec.message());
    tls_.use_private_key(asio::buffer(key_pem), ssl::context::pem, ec);
    if (ec) return makeError(ErrorCode::kBadConfig, "host key: {}", ec.message());
    // Ask for the client's certificate but never fail the handshake over it: an unknown one
    // gets the XML 401 the clients expect (gamestream.md §2.4).
    tls_.set_verify_mode(ssl::verify_peer | ssl::verify_client_once);
    tls_.set_verify_callback([](bool, ssl::verify_context&) { return true; });
    static const unsigned char kSessionContext[] = "funkhaus-web";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    if (auto ok = adopt(http_, std::move(http_fd), "HTTP"); !ok) return ok;
    if (auto ok = adopt(https_, std::move(https_fd), "HTTPS"); !ok) return ok;
    http_port_ = http_.local_endpoint().port();
    https_port_ = https_.local_endpoint().port();
    accept(http_, false);
    accept(https_, true);
    return {};
  }

  uint16_t httpPort() const override { return http_port_; }
  uint16_t httpsPort() const override { return https_port_; }
  HttpCounters counters() const override { return shared_->counters; }

 private:
  static Result<void> adopt(tcp::acceptor& acceptor, UniqueFd fd, const char* what) {
    if (!fd.valid()) return makeError(ErrorCode::kBadConfig, "no {} listening socket", what);
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    int listening = 0;
    socklen_t int_length = sizeof listening;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &int_length) != 0 ||
        !listening || (address.ss_family != AF_INET && address.ss_family != AF_INET6))
      return makeError(ErrorCode::kBadConfig, "the {} socket is not a listening TCP socket", what);
    beast::error_code ec;
    acceptor.assign(address.ss_family == AF_INET ? tcp::v4() : tcp::v6(), fd.release(), ec);
    if (ec) return makeError(ErrorCode::kBadConfig, "{} socket: {}", what, ec.message());
    return {};
  }

  void accept(tcp::acceptor& acceptor, bool https) {
    acceptor.async_accept([this, &acceptor, https](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        if (shared_->counters.open >= shared_->options.max_connections) {
          ++shared_->counters.refused;
          beast::error_code ignored;
          socket.close(ignored);
        } else if (https) {
          beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls_);
          std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
              shared_, std::move(stream), true)
              ->start();
        } else {
          std::make_shared<Connection<beast::tcp_stream>>(
              shared_, beast::tcp_stream(std::move(socket)), false)
              ->start();
        }
      } else {
        spdlog::warn("accepting a {} connection: {}", https ? "HTTPS" : "HTTP", ec.message());
      }
      accept(acceptor, https);
    });
  }

  std::shared_ptr<Shared> shared_;
  ssl::context tls_;
  tcp::acceptor http_, https_;
  uint16_t http_port_ = 0, https_port_ = 0;
};

}  // namespace

Result<UniqueFd> listenTcp(const std::string& address, uint16_t port) {
  beast::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) return makeError(ErrorCode::kBadConfig, "'{}' is not an IP address", address);
  const int family = ip.is_v4() ? AF_INET : AF_INET6;
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return makeError("socket: {}", std::strerror(errno));
  const int one = 1, zero = 0;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  const tcp::endpoint endpoint(ip, port);
  if (::bind(fd.get(), endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0)
    return makeError(ErrorCode::kBadConfig, "cannot listen on {} port {}: {}", address, port,
                     std::strerror(errno));
  if (::listen(fd.get(), 64) != 0) return makeError("listen: {}", std::strerror(errno));
  return fd;
}

Result<uint16_t> boundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    return makeError("getsockname: {}", std::strerror(errno));
  if (address.ss_family == AF_INET)
    return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  if (address.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  return makeError("not an IP socket");
}

Result<std::unique_ptr<HttpServer>> HttpServer::create(asio::io_context& io, UniqueFd http_listener,
                                                       UniqueFd https_listener,
                                                       const std::string& cert_pem,
                                                       const std::string& key_pem, Handler handler,
                                                       HttpServerOptions options) {
  auto shared = std::make_shared<Shared>(Shared{std::move(handler), options, {}});
  auto server = std::make_unique<BeastServer>(io, std::move(shared));
  if (auto ok =
          server->init(std::move(http_listener), std::move(https_listener), cert_pem, key_pem);
      !ok)
    return ok.error();
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace funkhaus::web
