// WatchedSocket: a socket of funkhaus-net on its event loop — waits until it is readable or
// writable, and owns it. Linux: a stream_descriptor; Windows: a socket Asio waits on. The loop's
// thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <utility>

#ifdef _WIN32
#include <boost/asio/generic/stream_protocol.hpp>
#else
#include <boost/asio/posix/stream_descriptor.hpp>
#endif

#include "funkhaus/net/socket.h"

namespace funkhaus::net {

// Closes the socket when closed or destroyed.
class WatchedSocket {
 public:
  WatchedSocket(boost::asio::io_context& io, NativeSocket socket) : watch_(io) {
    boost::system::error_code ec;
#ifdef _WIN32
    // The protocol only says what it is; waiting works for any socket.
    watch_.assign(boost::asio::generic::stream_protocol(AF_INET, IPPROTO_TCP), socket, ec);
#else
    watch_.assign(socket, ec);
#endif
    if (ec) std::abort();  // a fresh object takes any socket: a broken invariant
  }
  NativeSocket native() { return watch_.native_handle(); }
  template <class Handler>
  void onReadable(Handler&& handler) {
    watch_.async_wait(Watch::wait_read, std::forward<Handler>(handler));
  }
  template <class Handler>
  void onWritable(Handler&& handler) {
    watch_.async_wait(Watch::wait_write, std::forward<Handler>(handler));
  }
  void close() {
    boost::system::error_code ignored;
    watch_.close(ignored);
  }

 private:
#ifdef _WIN32
  using Watch = boost::asio::generic::stream_protocol::socket;
#else
  using Watch = boost::asio::posix::stream_descriptor;
#endif
  Watch watch_;
};

}  // namespace funkhaus::net
