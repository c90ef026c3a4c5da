// Protocol: one viewer protocol of funkhaus-net behind the protocol-neutral core (RTSP/RTP
// first; GameStream beside it later). The core owns sockets, connections, framing, the output
// queues, the page's connection slots, deposits, the ring and timers; a protocol owns its blob,
// its sessions and what goes on the wire. Everything runs on the main thread's loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/common/result.h"
#include "funkhaus/net/access_unit.h"
#include "funkhaus/net/socket.h"

namespace funkhaus::net {

class Connection;

// What a protocol counts; the core adds its own and publishes the sum.
struct ProtocolCounters {
  uint64_t bytes_out = 0;           // bytes it sent itself (datagrams); TCP is the core's
  uint64_t drops = 0;               // (viewer, access unit) pairs dropped for slow viewers
  uint64_t errors = 0;              // bad input, refused feedback
  uint64_t keyframes_received = 0;  // keyframe requests from viewers
};

class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual abi::NetProtocol id() const = 0;

  // After its endpoints checked out against its declaration (the core holds them) and before
  // adoption: opens its blob, checks what it needs of its endpoints. An error ends the worker.
  virtual Result<void> start() = 0;
  // A connection a previous net kept for it, with the session the page names. An error: not
  // continued (the core frees the slot, shuts the connection down and releases it).
  virtual Result<void> adopt(Connection& connection, uint32_t session) = 0;
  // Every kept connection was offered: drops what its blob holds that was not adopted.
  virtual void adopted() = 0;
  // Where viewers reach it, for the start line (e.g. rtsp://HOST:PORT/PATH).
  virtual std::string describe() const = 0;

  // A connection accepted on its TCP endpoint `tag`.
  virtual void onAccept(Connection& connection, uint32_t tag) = 0;
  // The unread bytes of a connection (peeked, nothing consumed yet). For a complete unit at the
  // start the protocol calls NetCore::consume() for it (false: the connection is gone) and then
  // acts on it; it returns the bytes it used, or 0 while the unit is incomplete (the core waits
  // for more, within the header timeout).
  virtual size_t onInput(Connection& connection, std::span<const uint8_t> input) = 0;
  // More bytes are pending than any unit can have: the protocol answers (if it can) and closes.
  virtual void onOverlong(Connection& connection) = 0;
  // The connection is closing (peer, error, timeout): the protocol forgets it. A kept one is
  // released by the core afterwards unless the protocol did it.
  virtual void onClosed(Connection& connection) = 0;
  // A datagram on its UDP endpoint `tag` from `from`.
  virtual void onDatagram(uint32_t tag, std::span<const uint8_t> data,
                          const sockaddr_storage& from) = 0;

  // Serves one access unit to its viewers. True if at least one got it whole.
  virtual bool serve(const MediaUnit& unit) = 0;
  // Serves one Opus packet of the audio ring (codec kOpus, format abi::opusFormat() with a
  // channel count and a duration the core checked) to its audio listeners. A protocol without
  // audio ignores it.
  virtual void serveAudio(const AccessUnit& packet) { (void)packet; }
  // Every sweep of the core (250 ms): timeouts and whatever waits.
  virtual void sweep(uint64_t now_ns) = 0;
  virtual ProtocolCounters counters() const = 0;
};

}  // namespace funkhaus::net
