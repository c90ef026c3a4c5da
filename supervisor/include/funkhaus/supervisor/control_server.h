// ControlServer: funkhausd's control socket — one JSON request line per connection, parsed and
// checked (control_protocol.h), SO_PEERCRED authorisation for anything that changes something
// (root, funkhausd's own user, members of the control group), a 2 s limit for a client to
// send its line. The Handler answers. funkhausd's event loop thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio.hpp>

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

  // Listens on `path` (directory 0755 and socket 0666 in system mode, 0700/0600 in user mode).
  Result<void> listen(const std::string& path, RunMode mode, const std::string& control_group);
  // Who may change things besides root and funkhausd's user (a reload may change it).
  void setControlGroup(const std::string& group) { control_group_ = group; }
  // Stops accepting and removes the socket file.
  void close();

  static std::string errorReply(const std::string& message);
  static std::string okReply();
  // Answers a parsed request already authorised (the control socket's, and the web console's
  // from its worker channel) through `handler`: the reply now or later through `respond`.
  static void dispatch(Handler& handler, const ControlRequest& request, uint32_t peer_uid,
                       const Respond& respond);

 private:
  void accept();
  void serve(std::shared_ptr<boost::asio::local::stream_protocol::socket> socket);
  bool authorized(uint32_t uid) const;

  boost::asio::io_context& io_;
  Handler& handler_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  std::string control_group_;
};

}  // namespace funkhaus::supervisor
