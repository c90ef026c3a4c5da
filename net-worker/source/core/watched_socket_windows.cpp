// WatchedSocket on Windows: WSAEventSelect on one event per socket, waited for on the loop.
// Not Asio's socket service: it binds each socket to the loop's completion port, and a socket
// funkhausd hands to one net after another is one kernel object, bound for good to the first
// one's port (the next one's bind fails). An event selection can be replaced at any time.
#include <utility>
// Asio before windows.h (winsock2.h first).
#include <boost/asio.hpp>
#include <boost/asio/windows/object_handle.hpp>

#include "funkhaus/net/watched_socket.h"

namespace funkhaus::net {

namespace {

constexpr long kReadable = FD_READ | FD_ACCEPT | FD_CLOSE;
constexpr long kWritable = FD_WRITE | FD_CLOSE;

}  // namespace

struct WatchedSocket::State : std::enable_shared_from_this<State> {
  State(boost::asio::io_context& io, NativeSocket s) : socket(s), event(io, WSACreateEvent()) {}

  // Selects the network events the pending waits want and waits for the event (once).
  void arm() {
    if (socket == kNoSocket) return;
    const long wanted = (on_readable ? kReadable : 0) | (on_writable ? kWritable : 0);
    // Re-selecting records at once what is already true (data waiting, a connection to accept).
    WSAEventSelect(socket, event.native_handle(), wanted);
    if (waiting || wanted == 0) return;
    waiting = true;
    event.async_wait(
        [self = shared_from_this()](const boost::system::error_code& ec) { self->woken(ec); });
  }

  void woken(const boost::system::error_code& ec) {
    waiting = false;
    if (ec || socket == kNoSocket) return abort(ec ? ec : boost::asio::error::operation_aborted);
    WSANETWORKEVENTS events{};
    WSAEnumNetworkEvents(socket, event.native_handle(), &events);  // resets the event
    Handler readable, writable;
    if ((events.lNetworkEvents & kReadable) != 0) readable = std::exchange(on_readable, nullptr);
    if ((events.lNetworkEvents & kWritable) != 0) writable = std::exchange(on_writable, nullptr);
    arm();  // what still waits, waits on
    if (readable) readable({});
    if (writable) writable({});
  }

  void abort(const boost::system::error_code& why) {
    auto readable = std::exchange(on_readable, nullptr);
    auto writable = std::exchange(on_writable, nullptr);
    if (readable) readable(why);
    if (writable) writable(why);
  }

  NativeSocket socket;
  boost::asio::windows::object_handle event;
  Handler on_readable, on_writable;
  bool waiting = false;
};

WatchedSocket::WatchedSocket(boost::asio::io_context& io, NativeSocket socket)
    : state_(std::make_shared<State>(io, socket)) {}

WatchedSocket::~WatchedSocket() { close(); }

NativeSocket WatchedSocket::native() const { return state_->socket; }

void WatchedSocket::onReadable(Handler handler) {
  state_->on_readable = std::move(handler);
  state_->arm();
}

void WatchedSocket::onWritable(Handler handler) {
  state_->on_writable = std::move(handler);
  state_->arm();
}

void WatchedSocket::close() {
  State& s = *state_;
  if (s.socket == kNoSocket) return;
  WSAEventSelect(s.socket, nullptr, 0);  // funkhausd's copy of an endpoint stays unselected
  closesocket(s.socket);
  s.socket = kNoSocket;
  if (s.waiting) {
    boost::system::error_code ignored;
    s.event.cancel(ignored);  // the wait ends, aborted, and tells those who wait
  } else {
    // As a cancelled wait would: later, on the loop, never inside close().
    boost::asio::post(s.event.get_executor(),
                      [state = state_] { state->abort(boost::asio::error::operation_aborted); });
  }
}

}  // namespace funkhaus::net
