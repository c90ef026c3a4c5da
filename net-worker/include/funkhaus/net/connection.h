// Connection: one TCP connection of a viewer protocol as the core of funkhaus-net runs it — its
// socket on the loop, its output queue (mirrored into the page once kept), its framing state and
// the protocol's own state. Owned by NetCore; protocols get references. funkhaus-net main thread.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/net/output_queue.h"
#include "funkhaus/net/socket.h"
#include "funkhaus/net/watched_socket.h"

namespace funkhaus::net {

class Protocol;

// What a protocol keeps per connection (e.g. RTSP: its viewer slot, a deferred request).
struct ConnectionState {
  virtual ~ConnectionState() = default;
};

class Connection {
 public:
  // Media units whose ends are remembered for framesBehind().
  static constexpr size_t kTrackedMediaEnds = 3;

  Connection(boost::asio::io_context& io, NativeSocket socket, Protocol& protocol)
      : socket_(io, socket), protocol_(&protocol) {}

  uint64_t id() const { return id_; }
  NativeSocket fd() { return socket_.native(); }
  Protocol& protocol() const { return *protocol_; }
  const sockaddr_storage& peer() const { return peer_; }    // IPv4-mapped made plain IPv4
  const sockaddr_storage& local() const { return local_; }  // likewise
  const std::string& name() const { return name_; }         // "#id address:port", for logs
  // The connection slot it is kept in (funkhausd holds a duplicate), or -1.
  int slot() const { return slot_; }
  bool closed() const { return closed_; }
  bool closing() const { return closing_; }  // closes once its output is written
  OutputQueue& out() { return out_; }

  // The protocol's state of this connection (created on first use).
  template <class T>
  T& state() {
    if (!state_) state_ = std::make_unique<T>();
    return static_cast<T&>(*state_);
  }

  // Slow viewers: remembers where the media unit just queued ends in the byte stream, and
  // counts how many of the latest kTrackedMediaEnds have not completely left the kernel's send
  // queue (SIOCOUTQNSD): how many frames the viewer is behind.
  void markMediaEnd();
  size_t mediaBehind();

 private:
  friend class NetCore;

  uint64_t id_ = 0;
  WatchedSocket socket_;
  Protocol* protocol_;
  OutputQueue out_;
  int slot_ = -1;
  bool reading_ = false;
  bool writing_ = false;
  bool paused_ = false;      // the protocol stopped reading (it answers a unit later)
  bool backlogged_ = false;  // not read while too many of its responses wait unread
  uint64_t backlogs_ = 0;    // times it was backlogged
  bool closing_ = false;
  bool closed_ = false;
  int lowat_ = -1;  // SO_RCVLOWAT as last set, -1 unknown
  uint64_t partial_since_ns_ = 0;
  uint64_t skip_ = 0;           // bytes of an ignored unit still to drop unread
  size_t partial_bytes_ = 0;    // input bytes of the unit still incomplete at the last look
  std::vector<uint8_t> carry_;  // input read out of the kernel ahead of consuming (see carry)
  uint64_t last_input_ns_ = 0;
  uint64_t closing_since_ns_ = 0;
  std::array<uint64_t, kTrackedMediaEnds> media_ends_{};
  size_t media_count_ = 0;
  sockaddr_storage peer_{};
  sockaddr_storage local_{};
  std::string name_;
  std::unique_ptr<ConnectionState> state_;
};

}  // namespace funkhaus::net
