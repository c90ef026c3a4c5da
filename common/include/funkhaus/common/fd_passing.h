// The fd spelling of platform/handle_passing.h for the Linux call sites that pass MSG_* flags
// (the supervisor <-> worker channel, the vdisplay control plane). New code uses
// platform::sendWithHandles / receiveWithHandles.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/platform/handle_passing.h"

namespace funkhaus {

// At most this many fds per datagram, either way; more arrive as Received::fds_truncated.
inline constexpr size_t kMaxPassedFds = platform::kMaxPassedHandles;

// Sends `bytes` with `fds` as one datagram. `extra_flags`: 0 or MSG_DONTWAIT (anything else is
// refused with an error naming it). Error: more than kMaxPassedFds fds, or sendmsg's errno.
Result<void> sendWithFds(int socket, std::span<const std::byte> bytes, std::span<const int> fds,
                         int extra_flags = 0);

struct Received {
  size_t size = 0;             // bytes of the datagram now in the buffer
  std::vector<UniqueFd> fds;   // every fd that arrived, owned (close-on-exec)
  bool truncated = false;      // MSG_TRUNC: the datagram was larger than the buffer
  bool fds_truncated = false;  // MSG_CTRUNC: more fds were sent than kMaxPassedFds
  // An empty datagram without fds: how a SOCK_SEQPACKET peer's close reads.
  bool closed() const { return size == 0 && fds.empty(); }
};

// Receives one datagram into `buffer`. `extra_flags`: 0 or MSG_DONTWAIT. nullopt: nothing there
// yet. Error: recvmsg's errno as text, or refused flags.
Result<std::optional<Received>> receiveWithFds(int socket, std::span<std::byte> buffer,
                                               int extra_flags = 0);

}  // namespace funkhaus
