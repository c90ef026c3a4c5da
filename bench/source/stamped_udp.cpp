// The receivers' UDP port pair and stamped reads (stamped_udp.h).
#include "funkhaus/bench/stamped_udp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace funkhaus::bench {

namespace {

Result<UniqueFd> boundUdp(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return makeError("socket: {}", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return makeError("bind 127.0.0.1:{}: {}", port, std::strerror(errno));
  return fd;
}

uint16_t localPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

}  // namespace

Result<UdpPortPair> openUdpPortPair(int rtp_buffer, int rtcp_buffer) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto rtp = boundUdp(0);
    if (!rtp) return rtp.error();
    const uint16_t port = localPort(rtp->get());
    if (port == 0 || port % 2 != 0 || port == 65534) continue;
    auto rtcp = boundUdp(static_cast<uint16_t>(port + 1));
    if (!rtcp) continue;  // taken: try another pair
    const int one = 1;
    if (setsockopt(rtp->get(), SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0)
      return makeError("SO_TIMESTAMPNS: {}", std::strerror(errno));
    if (rtp_buffer > 0)
      setsockopt(rtp->get(), SOL_SOCKET, SO_RCVBUF, &rtp_buffer, sizeof rtp_buffer);
    if (rtcp_buffer > 0)
      setsockopt(rtcp->get(), SOL_SOCKET, SO_RCVBUF, &rtcp_buffer, sizeof rtcp_buffer);
    return UdpPortPair{std::move(*rtp), std::move(*rtcp), port};
  }
  return makeError("found no free even/odd UDP port pair on 127.0.0.1");
}

std::optional<StampedDatagram> receiveStamped(int fd, std::span<uint8_t> buffer) {
  alignas(cmsghdr) char control[128];
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
  if (n < 0) return std::nullopt;  // EAGAIN: drained
  StampedDatagram d;
  d.size = static_cast<size_t>(n);
  d.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
        c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      d.realtime_ns =
          static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
    }
  }
  return d;
}

}  // namespace funkhaus::bench
