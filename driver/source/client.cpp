// Host side of the vdisplay control protocol.
#include "funkhaus/vdisplay/client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "funkhaus/common/clock.h"

namespace funkhaus::vdisplay {
namespace {

Result<void> sendDatagram(int socket, std::span<const std::byte> bytes, std::span<const int> fds) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  if (fds.size() > 8) return makeError("at most 8 fds per message");
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
    n = sendmsg(socket, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return makeError("sending to the driver: {}", std::strerror(errno));
  return {};
}

}  // namespace

Result<VdisplayClient> VdisplayClient::connect(const std::string& path, int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return makeError("driver socket path \"{}\" is empty or too long", path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd s(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!s.valid()) return makeError("socket: {}", std::strerror(errno));
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return makeError("connecting to the driver at {}: {}", path, std::strerror(errno));
  return adopt(std::move(s), timeout_ms);
}

Result<VdisplayClient> VdisplayClient::adopt(UniqueFd socket, int timeout_ms) {
  if (!socket.valid()) return makeError("driver socket is not open");
  VdisplayClient client(std::move(socket));
  Request r;
  r.type = VdisplayMessageType::kGetInfo;
  auto reply = client.call(std::move(r), timeout_ms);
  if (!reply) return reply.error();
  if (!reply->ok())
    return makeError("driver refused GET_INFO ({}): {} (driver ABI {} protocol {})",
                     toString(reply->code), reply->message, reply->abi_version,
                     reply->protocol_version);
  const auto& info = std::get<abi::VdisplayInfoReply>(reply->body);
  if (info.abi_version != abi::kAbiVersion ||
      info.protocol_version != abi::kVdisplayProtocolVersion)
    return makeError("driver speaks ABI {} protocol {}, this host ABI {} protocol {}: refusing it",
                     info.abi_version, info.protocol_version, abi::kAbiVersion,
                     abi::kVdisplayProtocolVersion);
  client.info_ = info;
  return client;
}

Result<Reply> VdisplayClient::call(Request request, int timeout_ms) {
  request.request_id = next_request_id_++;
  const auto bytes = encodeRequest(request);
  std::vector<int> fds;
  if (request.ring.valid()) fds.push_back(request.ring.get());
  return callRaw(bytes, fds, request.request_id, timeout_ms);
}

Result<Reply> VdisplayClient::callRaw(std::span<const std::byte> datagram, std::span<const int> fds,
                                      uint32_t request_id, int timeout_ms) {
  if (auto sent = sendDatagram(socket_.get(), datagram, fds); !sent) return sent.error();
  return receive(request_id, timeout_ms);
}

Result<Reply> VdisplayClient::receive(uint32_t request_id, int timeout_ms) {
  const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(timeout_ms) * 1'000'000u;
  for (;;) {
    const uint64_t now = monotonicNs();
    if (now >= deadline) return makeError("driver did not reply within {} ms", timeout_ms);
    pollfd p{socket_.get(), POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000 + 1));
    if (n < 0 && errno != EINTR) return makeError("poll: {}", std::strerror(errno));
    if (n <= 0) continue;
    std::byte buffer[abi::kVdisplayMaxMessageSize + 1];
    iovec iov{buffer, sizeof buffer};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t got = recvmsg(socket_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return makeError("receiving from the driver: {}", std::strerror(errno));
    }
    size_t fd_count = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        UniqueFd close_it(fd);
        ++fd_count;
      }
    }
    if (got == 0 && fd_count == 0) return makeError("the driver closed the connection");
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0)
      return makeError("driver reply larger than {} bytes", abi::kVdisplayMaxMessageSize);
    auto reply = parseReply(std::span<const std::byte>(buffer, static_cast<size_t>(got)), fd_count);
    if (!reply) return reply.error();
    if (reply->request_id != request_id)
      return makeError("driver answered request {} while we waited for {}", reply->request_id,
                       request_id);
    return reply;
  }
}

template <class T>
Result<T> VdisplayClient::expect(Request request) {
  const VdisplayMessageType type = request.type;
  auto reply = call(std::move(request));
  if (!reply) return reply.error();
  if (!reply->ok())
    return makeError("driver refused {} ({}): {}", toString(type), toString(reply->code),
                     reply->message);
  if (reply->type != type)
    return makeError("driver answered {} with a {} reply", toString(type), toString(reply->type));
  if constexpr (std::is_same_v<T, std::monostate>) {
    return std::monostate{};
  } else {
    const T* body = std::get_if<T>(&reply->body);
    if (body == nullptr) return makeError("driver's {} reply has no body", toString(type));
    return *body;
  }
}

Result<abi::VdisplayMonitorReply> VdisplayClient::addMonitor(
    const abi::VdisplayAddMonitorRequest& body, int ring_fd) {
  Request r;
  r.type = VdisplayMessageType::kAddMonitor;
  r.body = body;
  r.ring = UniqueFd(fcntl(ring_fd, F_DUPFD_CLOEXEC, 0));
  if (!r.ring.valid()) return makeError("dup of the ring fd: {}", std::strerror(errno));
  return expect<abi::VdisplayMonitorReply>(std::move(r));
}

Result<void> VdisplayClient::removeMonitor(uint32_t id) {
  Request r;
  r.type = VdisplayMessageType::kRemoveMonitor;
  r.body = abi::VdisplayMonitorRequest{id, 0};
  auto done = expect<std::monostate>(std::move(r));
  if (!done) return done.error();
  return {};
}

Result<uint32_t> VdisplayClient::clearAll() {
  Request r;
  r.type = VdisplayMessageType::kClearAll;
  auto cleared = expect<abi::VdisplayClearReply>(std::move(r));
  if (!cleared) return cleared.error();
  return cleared->removed;
}

Result<abi::VdisplayPingReply> VdisplayClient::ping(uint64_t nonce) {
  Request r;
  r.type = VdisplayMessageType::kPing;
  r.body = abi::VdisplayPingRequest{nonce};
  return expect<abi::VdisplayPingReply>(std::move(r));
}

Result<abi::VdisplayMonitorReply> VdisplayClient::setMode(uint32_t id, const Mode& mode) {
  Request r;
  r.type = VdisplayMessageType::kSetMode;
  r.body = abi::VdisplaySetModeRequest{id, mode.width, mode.height, mode.refresh_millihz};
  return expect<abi::VdisplayMonitorReply>(std::move(r));
}

Result<abi::VdisplayMonitorReply> VdisplayClient::getMonitor(uint32_t id) {
  Request r;
  r.type = VdisplayMessageType::kGetMonitor;
  r.body = abi::VdisplayMonitorRequest{id, 0};
  return expect<abi::VdisplayMonitorReply>(std::move(r));
}

}  // namespace funkhaus::vdisplay
