// One datagram plus the handles that travel with it, on a local message socket (SCM_RIGHTS on a
// SOCK_SEQPACKET socket on Linux). The supervisor <-> worker channel and the vdisplay control
// plane speak through these two; used on the thread that owns the socket.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/common/result.h"
#include "funkhaus/platform/handle.h"

namespace funkhaus::platform {

// At most this many handles per datagram, either way; more arrive as
// ReceivedDatagram::handles_truncated.
inline constexpr size_t kMaxPassedHandles = abi::kMaxMessageFds;

// Whether a worker can hand handles to funkhausd (net's kept connections): on Linux (SCM_RIGHTS);
// not on Windows yet, where the sender duplicates into the receiver and a worker has no right to
// duplicate into funkhausd.
#ifdef _WIN32
inline constexpr bool kWorkerPassesHandles = false;
#else
inline constexpr bool kWorkerPassesHandles = true;
#endif

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

// Waits up to timeout_ms (negative: no limit) until a datagram, or the peer's hang-up, is there
// to receive on `socket`. False: the time ran out (or, on Linux, a signal came). Linux: poll(2).
// Windows: a synchronous pipe handle cannot be waited on, so PeekNamedPipe is asked at growing
// intervals of 0 to 4 ms (a receive that waits this way costs a little CPU and up to a Sleep's
// granularity in latency).
Result<bool> waitReadable(NativeHandle socket, int timeout_ms);

// Two connected ends of one message channel, both owned here, not inherited by children: a
// SOCK_SEQPACKET socketpair on Linux; on Windows one message-mode named pipe of one instance (a
// random name, local clients only), its server end first and its client end, opened here,
// second. Handles sent over it land in this process, which holds both ends (on Windows a
// handle goes to the process that opened the other end; a worker opens its end itself).
// Error: the system's reason.
Result<std::pair<UniqueHandle, UniqueHandle>> messageChannelPair();

#if defined(_WIN32)
// A worker's channel on Windows is a named pipe funkhausd creates: the worker finds its name in
// this environment variable and opens it itself (an inherited end would name funkhausd as the
// process at the other end, and handles are passed to that process).
inline constexpr char kChannelPipeVariable[] = "FUNKHAUS_CHANNEL_PIPE";

// Opens the client end of the message pipe `name` (\\.\pipe\...) in message mode, synchronous
// and not inherited. Error: no such pipe, busy (another client has it), or the system's reason.
Result<UniqueHandle> openMessageChannel(const std::string& name);

// What sendWithHandles writes ahead of each datagram (its handles' values in the receiver; the
// sockets among them are described right after it, one WSAPROTOCOL_INFOW each).
inline constexpr size_t kPipeMessageHeader = 8 + 8 * kMaxPassedHandles;

// One pipe message that the caller read itself (funkhausd's launcher reads overlapped, on its
// event loop): header and datagram, `more` if the read said ERROR_MORE_DATA (the datagram is
// marked truncated). The datagram's bytes are copied into `buffer`. With take_handles false a
// message that claims handles is an error: their values would name handles of this process
// that the sender never gave it (a worker cannot hand handles to funkhausd on Windows yet).
Result<ReceivedDatagram> decodePipeMessage(std::span<const std::byte> message, bool more,
                                           std::span<std::byte> buffer, bool take_handles);
#endif

}  // namespace funkhaus::platform
