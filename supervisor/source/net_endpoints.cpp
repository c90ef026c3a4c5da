// NetEndpoints: binding the RTSP and RTP/RTCP sockets, validating deposited viewer sockets.
#include "funkhaus/supervisor/net_endpoints.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "funkhaus/abi/message.h"
#include "funkhaus/abi/net_state.h"
#include "funkhaus/common/net_state_page.h"

namespace funkhaus::supervisor {
namespace {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
};

Result<Address> parseAddress(const std::string& host, uint16_t port) {
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.length = sizeof(sockaddr_in);
    a.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.length = sizeof(sockaddr_in6);
    a.family = AF_INET6;
  } else {
    return makeError("net.bind: \"{}\" is not an IPv4 or IPv6 address", host);
  }
  return a;
}

uint16_t boundPort(int fd) {
  sockaddr_storage s{};
  socklen_t len = sizeof s;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len) != 0) return 0;
  if (s.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&s)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&s)->sin6_port);
}

Result<UniqueFd> bound(const Address& address, int type, uint16_t port) {
  Address a = address;
  if (a.family == AF_INET)
    reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
  UniqueFd fd(socket(a.family, type | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return makeError("socket: {}", std::strerror(errno));
  const int one = 1;
  if (type == SOCK_STREAM) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a.storage), a.length) != 0)
    return makeError("{}", std::strerror(errno));
  return fd;
}

}  // namespace

Result<NetEndpoints> NetEndpoints::open(const NetConfig& config) {
  auto address = parseAddress(config.bind, config.port);
  if (!address) return address.error();
  auto state = createNetStatePage();
  if (!state) return state.error();
  NetEndpoints e(std::move(*state));
  e.max_viewers_ = config.max_viewers;
  auto listening = bound(*address, SOCK_STREAM, config.port);
  if (!listening)
    return makeError("net: cannot listen on {} port {} (RTSP): {}", config.bind, config.port,
                     listening.error().message);
  if (::listen(listening->get(), 64) != 0)
    return makeError("net: listen on {} port {}: {}", config.bind, config.port,
                     std::strerror(errno));
  e.listen_ = std::move(*listening);
  e.rtsp_port_ = boundPort(e.listen_.get());

  // RTP on an even port, RTCP on the next one (RFC 3550 convention clients expect).
  for (int attempt = 0; attempt < 200 && !e.rtp_.valid(); ++attempt) {
    uint16_t rtp_port = config.rtp_port;
    UniqueFd rtp;
    if (rtp_port != 0) {
      auto fixed = bound(*address, SOCK_DGRAM, rtp_port);
      if (!fixed)
        return makeError("net: cannot bind UDP {} port {} (RTP): {}", config.bind, rtp_port,
                         fixed.error().message);
      rtp = std::move(*fixed);
    } else {
      auto any = bound(*address, SOCK_DGRAM, 0);
      if (!any) return makeError("net: cannot bind a UDP port for RTP: {}", any.error().message);
      rtp_port = boundPort(any->get());
      if (rtp_port % 2 != 0 || rtp_port == 65534) continue;  // try another
      rtp = std::move(*any);
    }
    auto rtcp = bound(*address, SOCK_DGRAM, static_cast<uint16_t>(rtp_port + 1));
    if (!rtcp) {
      if (config.rtp_port != 0)
        return makeError("net: cannot bind UDP {} port {} (RTCP): {}", config.bind, rtp_port + 1,
                         rtcp.error().message);
      continue;
    }
    e.rtp_ = std::move(rtp);
    e.rtcp_ = std::move(*rtcp);
    e.rtp_port_ = rtp_port;
  }
  if (!e.rtp_.valid()) return makeError("net: found no free even/odd UDP port pair for RTP/RTCP");
  return e;
}

Result<void> NetEndpoints::deposit(uint32_t slot, UniqueFd fd) {
  if (slot >= max_viewers_ || slot >= abi::kMaxConnections)
    return makeError("viewer slot {} is out of range (max_viewers {})", slot, max_viewers_);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0 || !S_ISSOCK(st.st_mode))
    return makeError("deposited fd for slot {} is not a socket", slot);
  int type = 0, domain = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
    return makeError("deposited socket for slot {} is not a stream socket", slot);
  len = sizeof domain;
  if (getsockopt(fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
      (domain != AF_INET && domain != AF_INET6))
    return makeError("deposited socket for slot {} is not a TCP/IP socket", slot);
  sockaddr_storage peer{};
  len = sizeof peer;
  if (getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &len) != 0)
    return makeError("deposited socket for slot {} is not connected", slot);
  viewers_[slot] = std::move(fd);
  return {};
}

void NetEndpoints::release(uint32_t slot) { viewers_.erase(slot); }

std::vector<HandedFd> NetEndpoints::handedFds() const {
  std::vector<HandedFd> out = {{abi::FdRole::kNetState, 0, state_.fd()},
                               {abi::FdRole::kEndpoint, abi::kEndpointRtspListen, listen_.get()},
                               {abi::FdRole::kEndpoint, abi::kEndpointRtspRtp, rtp_.get()},
                               {abi::FdRole::kEndpoint, abi::kEndpointRtspRtcp, rtcp_.get()}};
  for (const auto& [slot, fd] : viewers_) out.push_back({abi::FdRole::kConnection, slot, fd.get()});
  return out;
}

}  // namespace funkhaus::supervisor
