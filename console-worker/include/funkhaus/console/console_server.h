// The console's HTTPS server on Boost.Beast: TLS >= 1.2 with the host certificate, keep-alive,
// header and body limits (a body over kMaxBody is answered 413, headers over 16 KiB 431), read
// and write timeouts, a cap on connections, and server-sent event streams that stay open and
// get each broadcast (a stream that falls behind is closed; the browser reconnects). Runs on
// the io_context of funkhaus-console's main thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/console/console_api.h"

namespace funkhaus::console {

struct ServerOptions {
  uint32_t max_connections = 64;                    // beyond: accepted and closed at once
  uint32_t max_event_streams = 16;                  // beyond: 503
  std::chrono::milliseconds read_timeout{30'000};   // a request (and an idle keep-alive)
  std::chrono::milliseconds write_timeout{10'000};  // a reply or an event
};

struct ServerCounters {
  uint64_t connections = 0;  // accepted
  uint64_t refused = 0;      // over max_connections
  uint64_t failed = 0;       // TLS handshake, read or write failed or timed out
  uint64_t open = 0;         // right now
};

class ConsoleServer {
 public:
  using Handler = std::function<void(HttpRequest, Respond)>;

  // Serves HTTPS on `listener` (a listening TCP socket, taken). Errors: not a listening TCP
  // socket, the certificate or key do not load.
  static Result<std::unique_ptr<ConsoleServer>> create(boost::asio::io_context& io,
                                                       UniqueFd listener,
                                                       const std::string& cert_pem,
                                                       const std::string& key_pem, Handler handler,
                                                       ServerOptions options = {});
  virtual ~ConsoleServer() = default;
  virtual uint16_t port() const = 0;
  // It listens on a loopback address only (127.0.0.0/8, ::1).
  virtual bool loopback() const = 0;
  // Sends `bytes` (whole events) to every open event stream.
  virtual void broadcast(const std::string& bytes) = 0;
  virtual size_t eventStreams() const = 0;
  virtual ServerCounters counters() const = 0;
};

}  // namespace funkhaus::console
