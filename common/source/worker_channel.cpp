// Worker side of the channel.
#include "funkhaus/common/worker_channel.h"

#include "funkhaus/common/clock.h"
#include "funkhaus/platform/handle_passing.h"
#include "funkhaus/platform/process.h"

namespace funkhaus {

Result<WorkerChannel> WorkerChannel::connect(platform::NativeHandle handle, abi::WorkerKind kind,
                                             int timeout_ms) {
  UniqueFd channel(handle);
  abi::HelloBody hello{abi::kAbiVersion, static_cast<uint32_t>(kind), platform::currentProcessId(),
                       0};
  if (auto sent = sendMessage(channel.get(), HelloMessage{hello}); !sent) return sent.error();
  std::vector<Received> fds;
  std::optional<SharedMemory> status;
  const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(timeout_ms) * 1'000'000u;
  for (bool last = false; !last;) {
    const uint64_t now = monotonicNs();
    if (now >= deadline) return makeError("no ring fds from funkhausd within {} ms", timeout_ms);
    auto readable = platform::waitReadable(
        channel.get(), static_cast<int>((deadline - now + 999'999) / 1'000'000));
    if (!readable) return makeError("waiting for ring fds: {}", readable.error().message);
    if (!*readable) return makeError("no ring fds from funkhausd within {} ms", timeout_ms);
    auto received = receiveMessage(channel.get());
    if (!received && received.error().code == ErrorCode::kPeerLost)
      return makeError(ErrorCode::kPeerLost, "funkhausd closed the channel before ring fds");
    if (!received) return received.error();
    if (!received->has_value()) continue;  // woken, but nothing there
    auto* rings = std::get_if<RingFdsMessage>(&**received);
    if (rings == nullptr) return makeError("funkhausd sent another message before ring fds");
    last = rings->last;
    for (size_t i = 0; i < rings->fds.size(); ++i) {
      const uint32_t tag = i < rings->tags.size() ? rings->tags[i] : 0;
      if (rings->roles[i] == abi::FdRole::kStatusPage && !status) {
        auto page = SharedMemory::attach(std::move(rings->fds[i]), sizeof(abi::WorkerStatusPage));
        if (!page) return makeError("status page: {}", page.error().message);
        const auto* s = reinterpret_cast<const abi::WorkerStatusPage*>(page->data());
        if (s->magic != abi::kStatusPageMagic || s->abi_version != abi::kAbiVersion ||
            s->header_size != sizeof(abi::WorkerStatusPage))
          return makeError("status page has a bad magic, version or size");
        status.emplace(std::move(*page));
      } else {
        fds.push_back({rings->roles[i], tag, std::move(rings->fds[i])});
      }
    }
  }
  if (!status) return makeError("funkhausd sent no status page");
  WorkerChannel c(std::move(channel), std::move(*status));
  c.fds_ = std::move(fds);
  abi::atomicRef(c.status().pid).store(platform::currentProcessId(), std::memory_order_relaxed);
  c.heartbeat();
  return c;
}

void WorkerChannel::heartbeat() {
  abi::atomicRef(status().heartbeat).fetch_add(1, std::memory_order_release);
}

void WorkerChannel::setState(abi::WorkerState state) {
  abi::atomicRef(status().state).store(static_cast<uint32_t>(state), std::memory_order_release);
}

Result<void> WorkerChannel::sendReady() {
  setState(abi::WorkerState::kReady);
  return sendMessage(fd_.get(), ReadyMessage{});
}

Result<void> WorkerChannel::sendEvent(abi::Event event, uint64_t arg) {
  return sendMessage(fd_.get(), EventMessage{{static_cast<uint32_t>(event), 0, arg}});
}

UniqueFd WorkerChannel::takeFd(abi::FdRole role, uint32_t tag) {
  for (auto& r : fds_)
    if (r.role == role && r.tag == tag && r.fd.valid()) return std::move(r.fd);
  return UniqueFd();
}

std::vector<std::pair<uint32_t, UniqueFd>> WorkerChannel::takeTaggedFds(abi::FdRole role) {
  std::vector<std::pair<uint32_t, UniqueFd>> out;
  for (auto& r : fds_)
    if (r.role == role && r.fd.valid()) out.emplace_back(r.tag, std::move(r.fd));
  return out;
}

Result<void> WorkerChannel::depositConnection(uint32_t slot, platform::NativeHandle fd) {
  ConnectionDepositMessage m;
  m.slot = slot;
  auto copy = platform::duplicateHandle(fd);
  if (!copy) return makeError("viewer socket: {}", copy.error().message);
  m.fd = std::move(*copy);
  return sendMessage(fd_.get(), Message(std::move(m)));
}

Result<void> WorkerChannel::releaseConnection(uint32_t slot) {
  return sendMessage(fd_.get(), ConnectionReleaseMessage{slot});
}

Result<std::optional<Message>> WorkerChannel::receive(int timeout_ms) {
  auto readable = platform::waitReadable(fd_.get(), timeout_ms);
  if (!readable) return makeError("waiting on the channel: {}", readable.error().message);
  if (!*readable) return std::optional<Message>();
  auto received = receiveMessage(fd_.get());
  if (!received && received.error().code == ErrorCode::kPeerLost)
    return makeError(ErrorCode::kPeerLost, "funkhausd closed the channel");
  return received;
}

Result<std::optional<abi::CommandBody>> WorkerChannel::waitCommand(int timeout_ms) {
  auto received = receive(timeout_ms);
  if (!received) return received.error();
  if (!received->has_value()) return std::optional<abi::CommandBody>();
  auto* command = std::get_if<CommandMessage>(&**received);
  if (command == nullptr) return makeError("funkhausd sent a message that is not a command");
  return std::optional<abi::CommandBody>(command->body);
}

}  // namespace funkhaus
