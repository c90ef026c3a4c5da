// The socket calls of funkhaus-net and funkhausd on Linux (socket.h).
#include "funkhaus/net/socket.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>  // tcpi_bytes_acked (glibc's netinet/tcp.h has not got it)
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace funkhaus::net {

NativeSocket socketOf(const UniqueFd& handle) { return handle.get(); }
UniqueFd socketHandle(NativeSocket socket) { return UniqueFd(socket); }
platform::NativeHandle asHandle(NativeSocket socket) { return socket; }

Result<UniqueFd> openBound(const sockaddr_storage& address, socklen_t size, bool tcp) {
  UniqueFd fd(socket(address.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return makeError("socket: {}", std::strerror(errno));
  const int one = 1;
  if (tcp) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), size) != 0)
    return makeError("{}", std::strerror(errno));
  if (tcp && ::listen(fd.get(), 64) != 0) return makeError("listen: {}", std::strerror(errno));
  return fd;
}

bool isConnectedTcp(NativeSocket s) {
  int type = 0, domain = 0;
  socklen_t len = sizeof type;
  if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
  len = sizeof domain;
  if (getsockopt(s, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
      (domain != AF_INET && domain != AF_INET6))
    return false;
  sockaddr_storage peer{};
  len = sizeof peer;
  return getpeername(s, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
}

SocketError lastSocketError() {
  switch (errno) {
    case EINTR:
      return SocketError::kInterrupted;
    case EAGAIN:
      return SocketError::kWouldBlock;
    case ECONNABORTED:
      return SocketError::kAborted;
    default:
      return SocketError::kOther;
  }
}

std::string lastSocketErrorText() { return std::strerror(errno); }

std::ptrdiff_t receiveSome(NativeSocket s, void* data, size_t size, bool peek) {
  return recv(s, data, size, MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
}

std::ptrdiff_t sendSome(NativeSocket s, const void* data, size_t size) {
  return send(s, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
}

std::ptrdiff_t receiveDatagram(NativeSocket s, void* data, size_t capacity,
                               sockaddr_storage& from) {
  socklen_t len = sizeof from;
  return recvfrom(s, data, capacity, MSG_DONTWAIT | MSG_TRUNC, reinterpret_cast<sockaddr*>(&from),
                  &len);
}

bool sendDatagram(NativeSocket s, const void* data, size_t size, const sockaddr_storage& to,
                  socklen_t to_size) {
  return sendto(s, data, size, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to), to_size) >= 0;
}

size_t sendDatagrams(NativeSocket s, const sockaddr_storage& to, socklen_t to_size,
                     std::span<const DatagramPieces> datagrams) {
  constexpr size_t kBatch = 64;
  std::array<iovec, kBatch * 3> iov;
  std::array<mmsghdr, kBatch> msgs;
  size_t sent = 0;
  while (sent < datagrams.size()) {
    const size_t count = std::min(kBatch, datagrams.size() - sent);
    for (size_t i = 0; i < count; ++i) {
      const auto& pieces = datagrams[sent + i].pieces;
      for (size_t k = 0; k < 3; ++k)
        iov[i * 3 + k] = {const_cast<uint8_t*>(pieces[k].data()), pieces[k].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&to);
      msgs[i].msg_hdr.msg_namelen = to_size;
      msgs[i].msg_hdr.msg_iov = &iov[i * 3];
      msgs[i].msg_hdr.msg_iovlen = 3;
    }
    const int n = sendmmsg(s, msgs.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < count) break;
  }
  return sent;
}

NativeSocket acceptConnection(NativeSocket listener, sockaddr_storage& peer) {
  socklen_t len = sizeof peer;
  return accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

Result<void> setNonBlocking(NativeSocket s) {
  const int flags = fcntl(s, F_GETFL);
  if (flags < 0 || fcntl(s, F_SETFL, flags | O_NONBLOCK) != 0)
    return makeError("O_NONBLOCK: {}", std::strerror(errno));
  return {};
}

void setNoDelay(NativeSocket s) {
  const int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void setLinger(NativeSocket s, bool abortive) {
  const linger l{abortive ? 1 : 0, 0};
  setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void shutdownBoth(NativeSocket s) { ::shutdown(s, SHUT_RDWR); }

bool setReceiveLowWater(NativeSocket s, int bytes) {
  return setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes) == 0;
}

bool peerShutDown(NativeSocket s) {
  pollfd p{s, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

std::optional<uint64_t> unsentBytes(NativeSocket s) {
  int unsent = 0;
  if (ioctl(s, SIOCOUTQNSD, &unsent) != 0 || unsent < 0) return std::nullopt;
  return static_cast<uint64_t>(unsent);
}

Result<uint64_t> tcpBytesWritten(NativeSocket s) {
  auto acked = [&](uint64_t& out) -> Result<void> {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
      return makeError("TCP_INFO: {}", std::strerror(errno));
    if (len < offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
      return makeError("TCP_INFO of {} bytes has no tcpi_bytes_acked", len);
    out = info.tcpi_bytes_acked;
    return {};
  };
  // TCP_INFO is read under the socket lock, SIOCOUTQ is not: equal acked counts before and
  // after mean no acknowledgement moved bytes between the two counters in between.
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t before = 0, after = 0;
    int queued = 0;
    if (auto ok = acked(before); !ok) return ok.error();
    if (ioctl(s, SIOCOUTQ, &queued) != 0 || queued < 0)
      return makeError("SIOCOUTQ: {}", std::strerror(errno));
    if (auto ok = acked(after); !ok) return ok.error();
    if (before == after) return before + static_cast<uint64_t>(queued);
  }
  return makeError("TCP counters kept moving");
}

}  // namespace funkhaus::net
