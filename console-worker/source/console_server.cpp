// Boost.Beast behind console_server.h.
#include "funkhaus/console/console_server.h"

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <vector>

namespace funkhaus::console {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr uint32_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kMaxQueuedEvents = 64;
constexpr uint64_t kReadBodyLimit = 1 << 20;

std::string addressText(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  return address.to_string();
}

// The response as bytes: status line, headers, body (no body length for an event stream: it
// ends with the connection).
std::string serialize(const HttpResponse& r, bool keep_alive) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nServer: funkhaus\r\nContent-Type: {}\r\n", r.status,
      std::string(http::obsolete_reason(static_cast<http::status>(r.status))), r.content_type);
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
  if (r.event_stream)
    out += "Connection: keep-alive\r\nX-Accel-Buffering: no\r\n\r\n";
  else
    out += fmt::format("Content-Length: {}\r\nConnection: {}\r\n\r\n", r.body.size(),
                       keep_alive ? "keep-alive" : "close");
  return out + r.body;
}

std::string header(const http::request<http::string_body>& m, beast::string_view name) {
  const auto it = m.find(name);
  return it == m.end() ? std::string() : std::string(it->value());
}

struct Shared;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Shared> shared, beast::ssl_stream<beast::tcp_stream> stream);
  ~Connection();
  void start();
  // An event stream's next bytes.
  void push(const std::string& bytes);

 private:
  beast::tcp_stream& tcpStream() { return beast::get_lowest_layer(stream_); }
  void failed(const char* what, beast::error_code ec);
  void read();
  void dispatch();
  void send(HttpResponse response, bool keep_alive);
  void writeNext();
  void close();
  // An event stream reads nothing more: any byte or the end closes it (the browser left).
  void watchStream();
  // After refusing a request whose body still comes: reads and drops it (up to 1 MiB, 2 s) so
  // that closing does not reset the connection before the client read the answer.
  void drain(size_t left);

  std::shared_ptr<Shared> shared_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<std::string> out_;
  bool writing_ = false;
  bool keep_alive_ = false;
  bool event_stream_ = false;
  bool closing_ = false;
  bool drain_ = false;
  char ignored_byte_ = 0;
  std::array<char, 16384> sink_{};
  uint64_t request_ = 0;  // the one being answered (a late answer to an old one is dropped)
};

struct Shared {
  ConsoleServer::Handler handler;
  ServerOptions options;
  ServerCounters counters;
  // Open event streams (kept alive here: nothing else is pending on them between events).
  std::vector<std::shared_ptr<Connection>> streams;
  size_t openStreams() { return streams.size(); }
  void forget(const Connection* c) {
    std::erase_if(streams, [c](const auto& s) { return s.get() == c; });
  }
};

Connection::Connection(std::shared_ptr<Shared> shared, beast::ssl_stream<beast::tcp_stream> stream)
    : shared_(std::move(shared)), stream_(std::move(stream)) {
  ++shared_->counters.open;
}

Connection::~Connection() { --shared_->counters.open; }

void Connection::start() {
  beast::error_code ec;
  const auto remote = tcpStream().socket().remote_endpoint(ec);
  if (ec) return failed("endpoints", ec);
  peer_ = addressText(remote.address());
  auto self = shared_from_this();
  tcpStream().expires_after(shared_->options.read_timeout);
  stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code hec) {
    if (hec) return self->failed("TLS handshake", hec);
    self->read();
  });
}

void Connection::failed(const char* what, beast::error_code ec) {
  if (ec != http::error::end_of_stream && ec != asio::ssl::error::stream_truncated) {
    ++shared_->counters.failed;
    spdlog::debug("console {}: {}: {}", peer_, what, ec.message());
  }
  closing_ = true;
  beast::error_code ignored;
  tcpStream().socket().close(ignored);
  shared_->forget(this);
}

void Connection::read() {
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  // Bodies up to 1 MiB are read whole and then refused (a clean 413 the client reads); beyond,
  // the connection ends after the 413.
  parser_->body_limit(kReadBodyLimit);
  tcpStream().expires_after(shared_->options.read_timeout);
  auto self = shared_from_this();
  http::async_read(stream_, buffer_, *parser_, [self](beast::error_code ec, size_t) {
    if (ec == http::error::body_limit)
      return self->send(errorResponse(413, "the body is over 64 KiB"), false);
    if (ec == http::error::header_limit)
      return self->send(errorResponse(431, "the headers are over 16 KiB"), false);
    if (ec == http::error::end_of_stream) return self->close();
    if (ec) return self->failed("reading a request", ec);
    self->dispatch();
  });
}

void Connection::dispatch() {
  const auto& m = parser_->get();
  if (m.body().size() > kMaxBody) return send(errorResponse(413, "the body is over 64 KiB"), false);
  HttpRequest r;
  r.method = std::string(m.method_string());
  r.target = std::string(m.target());
  r.host = header(m, "Host");
  r.origin = header(m, "Origin");
  r.sec_fetch_site = header(m, "Sec-Fetch-Site");
  r.cookie = header(m, "Cookie");
  r.csrf_token = header(m, "X-CSRF-Token");
  r.authorization = header(m, "Authorization");
  r.content_type = header(m, "Content-Type");
  r.body = m.body();
  r.peer = peer_;
  const bool keep_alive = m.keep_alive();
  tcpStream().expires_never();  // the answer may wait for funkhausd
  const uint64_t id = ++request_;
  auto self = shared_from_this();
  shared_->handler(std::move(r), [self, id, keep_alive](HttpResponse response) {
    if (id != self->request_ || self->closing_) return;
    self->send(std::move(response), keep_alive);
  });
}

void Connection::send(HttpResponse response, bool keep_alive) {
  ++request_;  // answered: a second answer is dropped
  if (response.event_stream) {
    if (shared_->openStreams() >= shared_->options.max_event_streams) {
      response = errorResponse(503, "too many event streams open");
    } else {
      event_stream_ = true;
      shared_->streams.push_back(shared_from_this());
      watchStream();
    }
  }
  // After a refused body or header the rest of the request is still unread: close.
  keep_alive_ = keep_alive && !event_stream_ && response.status != 413 && response.status != 431;
  drain_ = response.status == 413 || response.status == 431;
  out_.push_back(serialize(response, keep_alive_));
  writeNext();
}

void Connection::push(const std::string& bytes) {
  if (closing_) return;
  if (out_.size() >= kMaxQueuedEvents) {
    spdlog::debug("console {}: the event stream fell behind: closed", peer_);
    return close();
  }
  out_.push_back(bytes);
  writeNext();
}

void Connection::writeNext() {
  if (writing_ || out_.empty() || closing_) return;
  writing_ = true;
  tcpStream().expires_after(shared_->options.write_timeout);
  auto self = shared_from_this();
  asio::async_write(stream_, asio::buffer(out_.front()), [self](beast::error_code ec, size_t) {
    self->writing_ = false;
    if (ec) return self->failed("writing", ec);
    self->out_.pop_front();
    if (!self->out_.empty()) return self->writeNext();
    if (self->event_stream_) {
      self->tcpStream().expires_never();
      return;
    }
    if (self->keep_alive_) return self->read();
    if (self->drain_) return self->drain(1 << 20);
    self->close();
  });
}

void Connection::drain(size_t left) {
  tcpStream().expires_after(std::chrono::seconds(2));
  auto self = shared_from_this();
  stream_.async_read_some(asio::buffer(sink_), [self, left](beast::error_code ec, size_t n) {
    if (ec || n >= left) return self->close();
    self->drain(left - n);
  });
}

void Connection::watchStream() {
  tcpStream().expires_never();
  auto self = shared_from_this();
  stream_.async_read_some(asio::buffer(&ignored_byte_, 1), [self](beast::error_code, size_t) {
    if (!self->closing_) self->failed("event stream ended", http::error::end_of_stream);
  });
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  shared_->forget(this);
  auto self = shared_from_this();
  tcpStream().expires_after(std::chrono::seconds(2));
  stream_.async_shutdown([self](beast::error_code) {
    beast::error_code ignored;
    self->tcpStream().socket().close(ignored);
  });
}

bool isLoopback(const asio::ip::address& a) {
  if (a.is_v4()) return a.to_v4().is_loopback();
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
  return v6.is_loopback();
}

class BeastServer final : public ConsoleServer {
 public:
  BeastServer(asio::io_context& io, std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)), tls_(ssl::context::tls_server), acceptor_(io) {}

  ~BeastServer() override {
    beast::error_code ignored;
    acceptor_.close(ignored);
    shared_->streams.clear();
  }

  Result<void> init(UniqueFd fd, const std::string& cert_pem, const std::string& key_pem) {
    beast::error_code ec;
    SSL_CTX_set_min_proto_version(tls_.native_handle(), TLS1_2_VERSION);
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use);
    tls_.use_certificate(asio::buffer(cert_pem), ssl::context::pem, ec);
    if (ec) return makeError(ErrorCode::kBadConfig, "host certificate: {}", ec.message());
    tls_.use_private_key(asio::buffer(key_pem), ssl::context::pem, ec);
    if (ec) return makeError(ErrorCode::kBadConfig, "host key: {}", ec.message());
    if (!fd.valid()) return makeError(ErrorCode::kBadConfig, "no listening socket");
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    int listening = 0;
    socklen_t int_length = sizeof listening;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &int_length) != 0 ||
        !listening || (address.ss_family != AF_INET && address.ss_family != AF_INET6))
      return makeError(ErrorCode::kBadConfig, "the console socket is not a listening TCP socket");
    acceptor_.assign(address.ss_family == AF_INET ? tcp::v4() : tcp::v6(), fd.release(), ec);
    if (ec) return makeError(ErrorCode::kBadConfig, "console socket: {}", ec.message());
    const auto local = acceptor_.local_endpoint(ec);
    if (ec) return makeError(ErrorCode::kBadConfig, "console socket: {}", ec.message());
    port_ = local.port();
    loopback_ = isLoopback(local.address());
    accept();
    return {};
  }

  uint16_t port() const override { return port_; }
  bool loopback() const override { return loopback_; }
  void broadcast(const std::string& bytes) override {
    for (const auto& c : std::vector<std::shared_ptr<Connection>>(shared_->streams)) c->push(bytes);
  }
  size_t eventStreams() const override { return shared_->openStreams(); }
  ServerCounters counters() const override { return shared_->counters; }

 private:
  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        if (shared_->counters.open >= shared_->options.max_connections) {
          ++shared_->counters.refused;
          beast::error_code ignored;
          socket.close(ignored);
        } else {
          ++shared_->counters.connections;
          beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls_);
          std::make_shared<Connection>(shared_, std::move(stream))->start();
        }
      } else {
        spdlog::warn("accepting a console connection: {}", ec.message());
      }
      accept();
    });
  }

  std::shared_ptr<Shared> shared_;
  ssl::context tls_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  bool loopback_ = false;
};

}  // namespace

Result<std::unique_ptr<ConsoleServer>> ConsoleServer::create(
    asio::io_context& io, UniqueFd listener, const std::string& cert_pem,
    const std::string& key_pem, Handler handler, ServerOptions options) {
  auto shared = std::make_shared<Shared>();
  shared->handler = std::move(handler);
  shared->options = options;
  auto server = std::make_unique<BeastServer>(io, std::move(shared));
  if (auto ok = server->init(std::move(listener), cert_pem, key_pem); !ok) return ok.error();
  return std::unique_ptr<ConsoleServer>(std::move(server));
}

}  // namespace funkhaus::console
