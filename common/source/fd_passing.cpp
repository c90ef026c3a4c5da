// sendmsg/recvmsg with SCM_RIGHTS, once for every SOCK_SEQPACKET protocol of funkhaus.
#include "funkhaus/common/fd_passing.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace funkhaus {

Result<void> sendWithFds(int socket, std::span<const std::byte> bytes, std::span<const int> fds,
                         int extra_flags) {
  if (fds.size() > kMaxPassedFds)
    return makeError("{} fds in one message, at most {}", fds.size(), kMaxPassedFds);
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = sendmsg(socket, &msg, MSG_NOSIGNAL | extra_flags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return makeError("{}", std::strerror(errno));
  return {};
}

Result<std::optional<Received>> receiveWithFds(int socket, std::span<std::byte> buffer,
                                               int extra_flags) {
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | extra_flags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::optional<Received>();
    return makeError("{}", std::strerror(errno));
  }
  Received received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      received.fds.emplace_back(fd);
    }
  }
  received.size = static_cast<size_t>(n);
  received.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  received.fds_truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  return std::optional<Received>(std::move(received));
}

}  // namespace funkhaus
