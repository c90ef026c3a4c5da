// Handle passing on Linux: sendmsg/recvmsg with SCM_RIGHTS, once for every SOCK_SEQPACKET
// protocol of funkhaus.
#include "funkhaus/platform/handle_passing.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace funkhaus::platform {
namespace {

int flagsOf(Blocking blocking) { return blocking == Blocking::kDontWait ? MSG_DONTWAIT : 0; }

}  // namespace

Result<void> sendWithHandles(NativeHandle socket, std::span<const std::byte> bytes,
                             std::span<const NativeHandle> handles, Blocking blocking) {
  if (handles.size() > kMaxPassedHandles)
    return makeError("{} fds in one message, at most {}", handles.size(), kMaxPassedHandles);
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedHandles)] = {};
  if (!handles.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * handles.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * handles.size());
    std::memcpy(CMSG_DATA(c), handles.data(), sizeof(int) * handles.size());
  }
  ssize_t n;
  do {
    n = sendmsg(socket, &msg, MSG_NOSIGNAL | flagsOf(blocking));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return makeError("{}", std::strerror(errno));
  return {};
}

Result<std::optional<ReceivedDatagram>> receiveWithHandles(NativeHandle socket,
                                                           std::span<std::byte> buffer,
                                                           Blocking blocking) {
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedHandles)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | flagsOf(blocking));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::optional<ReceivedDatagram>();
    // A peer that closed its end with datagrams of ours still unread resets the connection:
    // a hang-up like an orderly close, and read as one (as ERROR_BROKEN_PIPE on Windows).
    if (errno == ECONNRESET || errno == EPIPE)
      return std::optional<ReceivedDatagram>(ReceivedDatagram{});
    return makeError("{}", std::strerror(errno));
  }
  ReceivedDatagram received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      received.handles.emplace_back(fd);
    }
  }
  received.size = static_cast<size_t>(n);
  received.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  received.handles_truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  return std::optional<ReceivedDatagram>(std::move(received));
}

Result<bool> waitReadable(NativeHandle socket, int timeout_ms) {
  pollfd p{socket, POLLIN, 0};
  const int n = poll(&p, 1, timeout_ms < 0 ? -1 : timeout_ms);
  // A signal ends the wait early, as the time running out would: its handler may have asked the
  // caller to stop.
  if (n < 0 && errno == EINTR) return false;
  if (n < 0) return makeError("poll: {}", std::strerror(errno));
  if (n > 0 && (p.revents & POLLNVAL) != 0) return makeError("poll: not an open socket");
  return n > 0;
}

Result<std::pair<UniqueHandle, UniqueHandle>> messageChannelPair() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return makeError("socketpair: {}", std::strerror(errno));
  return std::pair(UniqueHandle(sv[0]), UniqueHandle(sv[1]));
}

}  // namespace funkhaus::platform
