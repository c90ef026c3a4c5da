// The GameStream HTTP and HTTPS listeners on Boost.Beast: one request per connection, read and
// write timeouts, a cap on connections, TLS >= 1.2 asking for (never requiring) a client
// certificate, and replies that may come later (a pairing waiting for its PIN never blocks
// anything else). Runs on the io_context of funkhaus-web's main thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/web/gamestream_api.h"

namespace funkhaus::web {

struct HttpServerOptions {
  uint32_t max_connections = 64;                    // beyond: accepted and closed at once
  std::chrono::milliseconds read_timeout{10'000};   // the request, and the TLS handshake
  std::chrono::milliseconds write_timeout{10'000};  // the reply
};

struct HttpCounters {
  uint64_t connections = 0;  // accepted and served
  uint64_t refused = 0;      // over max_connections
  uint64_t failed = 0;       // TLS handshake, read or write failed or timed out
  uint64_t open = 0;         // right now
};

// A TCP listener on `address` (text, e.g. "127.0.0.1", "::") and `port` (0: any free one).
Result<UniqueFd> listenTcp(const std::string& address, uint16_t port);
// The port a listening socket is bound to.
Result<uint16_t> boundPort(int fd);

class HttpServer {
 public:
  using Handler = std::function<void(ApiRequest, Respond)>;

  // Serves HTTP on `http_listener` and HTTPS on `https_listener` (listening sockets, taken),
  // with the host's certificate and key. Errors: a socket is not a listening TCP socket, the
  // certificate or key do not load.
  static Result<std::unique_ptr<HttpServer>> create(boost::asio::io_context& io,
                                                    UniqueFd http_listener, UniqueFd https_listener,
                                                    const std::string& cert_pem,
                                                    const std::string& key_pem, Handler handler,
                                                    HttpServerOptions options = {});
  virtual ~HttpServer() = default;
  virtual uint16_t httpPort() const = 0;
  virtual uint16_t httpsPort() const = 0;
  virtual HttpCounters counters() const = 0;
};

}  // namespace funkhaus::web
