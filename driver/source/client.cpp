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
#include "funkhaus/platform/handle_passing.h"

namespace funkhaus::vdisplay {

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
  std::vector<platform::NativeHandle> fds;
  if (request.ring.valid()) fds.push_back(request.ring.get());
  return callRaw(bytes, fds, request.request_id, timeout_ms);
}

Result<Reply> VdisplayClient::callRaw(std::span<const std::byte> datagram,
                                      std::span<const platform::NativeHandle> fds,
                                      uint32_t request_id, int timeout_ms) {
  if (auto sent = platform::sendWithHandles(socket_.get(), datagram, fds); !sent)
    return makeError("sending to the driver: {}", sent.error().message);
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
    auto received =
        platform::receiveWithHandles(socket_.get(), buffer, platform::Blocking::kDontWait);
    if (!received) return makeError("receiving from the driver: {}", received.error().message);
    if (!*received) continue;
    const platform::ReceivedDatagram& r =
        **received;  // replies carry no fds: r.handles closes any that came
    if (r.closed()) return makeError("the driver closed the connection");
    if (r.truncated || r.handles_truncated)
      return makeError("driver reply larger than {} bytes", abi::kVdisplayMaxMessageSize);
    auto reply = parseReply(std::span<const std::byte>(buffer, r.size), r.handles.size());
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
