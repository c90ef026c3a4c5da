// The supervisor <-> worker channel: one message channel per worker (platform/handle_passing.h:
// a SOCK_SEQPACKET socket with fds in SCM_RIGHTS on Linux, a message-mode named pipe on Windows)
// carrying the messages of abi/message.h and their handles. funkhausd holds one end (and
// validates everything it receives: the worker is untrusted), the worker holds the other (fd 3
// on Linux).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/platform/handle_passing.h"

namespace funkhaus {

struct HelloMessage {
  abi::HelloBody body;
};
struct ReadyMessage {};
struct RingFdsMessage {
  std::vector<abi::FdRole> roles;
  std::vector<uint32_t> tags;  // per fd; empty means all zero
  std::vector<UniqueFd> fds;
  bool last = true;  // the last ring-fds message of the hand-over
};
struct CommandMessage {
  abi::CommandBody body;
};
struct EventMessage {
  abi::EventBody body;
};

struct ConnectionDepositMessage {
  uint32_t slot = 0;
  UniqueFd fd;
};
struct ConnectionReleaseMessage {
  uint32_t slot = 0;
};

// A request (JSON text, answered by one reply with the same id) and its reply, either way.
struct RequestMessage {
  uint32_t id = 0;
  std::string text;
};
struct ReplyMessage {
  uint32_t id = 0;
  std::string text;
};

using Message =
    std::variant<HelloMessage, ReadyMessage, RingFdsMessage, CommandMessage, EventMessage,
                 ConnectionDepositMessage, ConnectionReleaseMessage, RequestMessage, ReplyMessage>;

// Checks one received datagram and the fds that came with it: magic, ABI version, length,
// type, exact body size, known enum values, zero reserved fields, and fds only where the
// type carries them (as many as it says). Takes ownership of `fds` (closed on error).
Result<Message> parseMessage(std::span<const std::byte> datagram, std::vector<UniqueFd> fds);

// Encodes a message (without fds) into a datagram.
std::vector<std::byte> encodeMessage(const Message& message);

// Sends one message; the fds of RingFdsMessage and ConnectionDepositMessage go along (SCM_RIGHTS;
// duplicated into the peer on Windows) and stay open here.
Result<void> sendMessage(platform::NativeHandle socket, const Message& message);

// Receives one datagram (with Blocking::kWait it waits unless the socket is non-blocking).
// nullopt: nothing there yet (Blocking::kDontWait, or EAGAIN). The peer's hang-up (EOF, or a reset:
// it closed with messages unread) is an error with ErrorCode::kPeerLost; every other error
// (oversized or truncated datagrams, truncated control data, a message that does not parse) is a
// malformed message and has another code.
Result<std::optional<Message>> receiveMessage(
    platform::NativeHandle socket, platform::Blocking blocking = platform::Blocking::kWait);

// What receiveMessage does with a datagram it received, for one received by other means
// (funkhausd's Windows launcher reads on its event loop): a hang-up is kPeerLost; a truncated
// datagram, too many handles or one that does not parse is a malformed message. `buffer` holds
// the datagram's bytes.
Result<Message> messageFromDatagram(platform::ReceivedDatagram datagram,
                                    std::span<const std::byte> buffer);

}  // namespace funkhaus
