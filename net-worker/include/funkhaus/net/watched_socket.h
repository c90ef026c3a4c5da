// WatchedSocket: a socket of funkhaus-net on its event loop — waits until it is readable or
// writable, and owns it. Linux: a stream_descriptor. Windows: WSAEventSelect on an event the
// loop waits for (watched_socket_windows.cpp). The loop's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <functional>
#include <memory>
#include <utility>

#ifndef _WIN32
#include <boost/asio/posix/stream_descriptor.hpp>
#endif

#include "funkhaus/net/socket.h"

namespace funkhaus::net {

// Closes the socket when closed or destroyed. A wait that is pending then ends with
// operation_aborted.
class WatchedSocket {
 public:
  using Handler = std::function<void(const boost::system::error_code&)>;

#ifdef _WIN32
  WatchedSocket(boost::asio::io_context& io, NativeSocket socket);
  ~WatchedSocket();
  WatchedSocket(const WatchedSocket&) = delete;
  WatchedSocket& operator=(const WatchedSocket&) = delete;
  NativeSocket native() const;
  void onReadable(Handler handler);
  void onWritable(Handler handler);
  void close();

 private:
  // What a wait in flight needs after this object is gone (its completion comes later).
  struct State;
  std::shared_ptr<State> state_;
#else
  WatchedSocket(boost::asio::io_context& io, NativeSocket socket) : watch_(io) {
    boost::system::error_code ec;
    watch_.assign(socket, ec);
    if (ec) std::abort();  // a fresh descriptor takes any fd: a broken invariant
  }
  NativeSocket native() { return watch_.native_handle(); }
  void onReadable(Handler handler) {
    watch_.async_wait(boost::asio::posix::stream_descriptor::wait_read, std::move(handler));
  }
  void onWritable(Handler handler) {
    watch_.async_wait(boost::asio::posix::stream_descriptor::wait_write, std::move(handler));
  }
  void close() {
    boost::system::error_code ignored;
    watch_.close(ignored);
  }

 private:
  boost::asio::posix::stream_descriptor watch_;
#endif
};

}  // namespace funkhaus::net
