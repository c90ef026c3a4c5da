// One datagram plus the fds that travel with it (SCM_RIGHTS) on a SOCK_SEQPACKET socket: the
// supervisor <-> worker channel and the vdisplay control plane both speak through these two.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus {

// At most this many fds per datagram, either way; more arrive as Received::fds_truncated.
inline constexpr size_t kMaxPassedFds = abi::kMaxMessageFds;

// Sends `bytes` with `fds` as one datagram (MSG_NOSIGNAL | extra_flags, EINTR retried).
// Error: more than kMaxPassedFds fds, or sendmsg's errno as text.
Result<void> sendWithFds(int socket, std::span<const std::byte> bytes, std::span<const int> fds,
                         int extra_flags = 0);

struct Received {
  size_t size = 0;             // bytes of the datagram now in the buffer
  std::vector<UniqueFd> fds;   // every fd that arrived, owned (dropped ones get closed)
  bool truncated = false;      // MSG_TRUNC: the datagram was larger than the buffer
  bool fds_truncated = false;  // MSG_CTRUNC: more fds were sent than kMaxPassedFds
  // An empty datagram without fds: how a SOCK_SEQPACKET peer's close reads.
  bool closed() const { return size == 0 && fds.empty(); }
};

// Receives one datagram into `buffer` (MSG_CMSG_CLOEXEC | extra_flags, EINTR retried).
// nullopt: nothing there yet (EAGAIN with MSG_DONTWAIT). Error: recvmsg's errno as text.
Result<std::optional<Received>> receiveWithFds(int socket, std::span<std::byte> buffer,
                                               int extra_flags = 0);

}  // namespace funkhaus
