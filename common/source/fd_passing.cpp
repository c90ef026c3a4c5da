// sendWithFds / receiveWithFds: MSG_* flags onto platform handle passing.
#include "funkhaus/common/fd_passing.h"

#include <sys/socket.h>

namespace funkhaus {
namespace {

Result<platform::Blocking> blockingOf(int extra_flags) {
  if ((extra_flags & ~MSG_DONTWAIT) != 0)
    return makeError("message flags 0x{:x}: only MSG_DONTWAIT is supported", extra_flags);
  return (extra_flags & MSG_DONTWAIT) != 0 ? platform::Blocking::kDontWait
                                           : platform::Blocking::kWait;
}

}  // namespace

Result<void> sendWithFds(int socket, std::span<const std::byte> bytes, std::span<const int> fds,
                         int extra_flags) {
  auto blocking = blockingOf(extra_flags);
  if (!blocking) return blocking.error();
  return platform::sendWithHandles(socket, bytes, fds, *blocking);
}

Result<std::optional<Received>> receiveWithFds(int socket, std::span<std::byte> buffer,
                                               int extra_flags) {
  auto blocking = blockingOf(extra_flags);
  if (!blocking) return blocking.error();
  auto got = platform::receiveWithHandles(socket, buffer, *blocking);
  if (!got) return got.error();
  if (!*got) return std::optional<Received>();
  platform::ReceivedDatagram& d = **got;
  return std::optional<Received>(
      Received{d.size, std::move(d.handles), d.truncated, d.handles_truncated});
}

}  // namespace funkhaus
