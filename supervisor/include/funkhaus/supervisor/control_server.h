// ControlServer: funkhausd's control socket (Linux) or named pipe (Windows) — one JSON request
// line per connection, parsed and checked (control_protocol.h), a 2 s limit for a client to send
// its line; the Handler answers. funkhausd's event loop thread. Who may change things: on Linux
// root, funkhausd's own user and members of the control group (SO_PEERCRED, asked per request);
// on Windows the pipe's DACL admits only SYSTEM, Administrators and the control group's members.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>

#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/control_protocol.h"

namespace funkhaus::supervisor {

class ControlServer {
 public:
  using Respond = std::function<void(const std::string& reply)>;

  class Handler {
   public:
    virtual ~Handler() = default;
    // {"ok":true,...} status for anyone: the reply, or nullopt when it comes later through
    // `respond` (after asking a host worker).
    virtual std::optional<std::string> status(const Respond& respond) = 0;
    // Any other request, authorised if it changes something: the reply, or nullopt when it
    // comes later through `respond` (a mode change waits for the driver, a forwarded request
    // for its worker).
    virtual std::optional<std::string> change(const ControlRequest& request, uint32_t peer_uid,
                                              const Respond& respond) = 0;
  };

  ControlServer(boost::asio::io_context& io, Handler& handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Listens on `address`. Linux: a socket path (directory 0755 and socket 0666 in system mode,
  // 0700/0600 in user mode). Windows: a pipe name (\\.\pipe\NAME) that must not exist yet;
  // `mode` is not used.
  Result<void> listen(const std::string& address, RunMode mode, const std::string& control_group);
  // Who may change things besides root and funkhausd's user (a reload may change it; on Windows
  // the pipe's DACL is made at listen()).
  void setControlGroup(const std::string& group) { control_group_ = group; }
  // Stops accepting (and removes the socket file).
  void close();

  static std::string errorReply(const std::string& message);
  static std::string okReply();
  // Answers a parsed request already authorised (the control socket's, and the web console's
  // from its worker channel) through `handler`: the reply now or later through `respond`.
  static void dispatch(Handler& handler, const ControlRequest& request, uint32_t peer_uid,
                       const Respond& respond);
  // Answers one request line of a client through `respond`: parsed, then, unless it is the
  // status, let through by `authorize` (the asking user's id, or why they may not ask it).
  static void answer(Handler& handler, const std::string& line,
                     const std::function<Result<uint32_t>(const ControlRequest&)>& authorize,
                     const Respond& respond);

 private:
  // The platform's listening end (common/platform/{linux,windows}/control_server_*.cpp).
  struct Listener;
  // One client's request line as it is read: the client's 2 s, and room for one byte more
  // than a request may have (so that an overlong one is told apart).
  struct ClientRequest {
    explicit ClientRequest(boost::asio::io_context& io)
        : timer(io), buffer(kMaxControlRequest + 1) {}
    boost::asio::steady_timer timer;
    boost::asio::streambuf buffer;
  };

  boost::asio::io_context& io_;
  Handler& handler_;
  std::unique_ptr<Listener> listener_;
  std::string control_group_;
};

}  // namespace funkhaus::supervisor
