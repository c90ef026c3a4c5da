// One datagram plus the handles that travel with it, on a local message socket (SCM_RIGHTS on a
// SOCK_SEQPACKET socket on Linux). The supervisor <-> worker channel and the vdisplay control
// plane speak through these two; used on the thread that owns the socket.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/common/result.h"
#include "funkhaus/platform/handle.h"

namespace funkhaus::platform {

// At most this many handles per datagram, either way; more arrive as
// ReceivedDatagram::handles_truncated.
inline constexpr size_t kMaxPassedHandles = abi::kMaxMessageFds;

enum class Blocking {
  kWait,      // as the socket is set up (blocking sockets wait)
  kDontWait,  // never wait: a full socket is an error on send, an empty one nullopt on receive
};

// Sends `bytes` with duplicates of `handles` as one datagram (never raises SIGPIPE; retried
// when interrupted). Error: more than kMaxPassedHandles handles, or the system's reason.
Result<void> sendWithHandles(NativeHandle socket, std::span<const std::byte> bytes,
                             std::span<const NativeHandle> handles,
                             Blocking blocking = Blocking::kWait);

struct ReceivedDatagram {
  size_t size = 0;                    // bytes of the datagram now in the buffer
  std::vector<UniqueHandle> handles;  // every handle that arrived, owned (not inherited)
  bool truncated = false;             // the datagram was larger than the buffer
  bool handles_truncated = false;     // more handles were sent than kMaxPassedHandles
  // An empty datagram without handles: how a peer's close (or reset) reads.
  bool closed() const { return size == 0 && handles.empty(); }
};

// Receives one datagram into `buffer` (retried when interrupted). nullopt: nothing there yet
// (Blocking::kDontWait, or a non-blocking socket). A peer that hung up, in order or by a reset
// (it closed with datagrams unread), reads as closed(). Error: the system's other reasons.
Result<std::optional<ReceivedDatagram>> receiveWithHandles(NativeHandle socket,
                                                           std::span<std::byte> buffer,
                                                           Blocking blocking = Blocking::kWait);

}  // namespace funkhaus::platform
