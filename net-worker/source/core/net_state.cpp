// Net state page: attach, validation, connection slots, blobs.
#include "funkhaus/net/net_state.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "funkhaus/common/peer.h"
#include "funkhaus/net/protocol_declarations.h"

namespace funkhaus::net {

using abi::atomicLoad;
using abi::atomicRef;
using abi::NetConnectionSlot;
using abi::NetStatePage;

Result<void> validateNetStateHeader(const std::byte* base, size_t size) {
  if (size < sizeof(NetStatePage))
    return makeError("net state page: mapping of {} bytes is smaller than the {}-byte page", size,
                     sizeof(NetStatePage));
  NetStatePage h;  // only the header is copied out: one snapshot, never re-read
  std::memcpy(&h, base, offsetof(NetStatePage, connections));
  if (h.magic != abi::kNetStateMagic)
    return makeError("net state page: bad magic 0x{:08x} (expected 0x{:08x})", h.magic,
                     abi::kNetStateMagic);
  if (h.abi_version != abi::kAbiVersion)
    return makeError("net state page: ABI version {} (this build speaks {})", h.abi_version,
                     abi::kAbiVersion);
  if (h.header_size != sizeof(NetStatePage))
    return makeError("net state page: header_size {} (expected {})", h.header_size,
                     sizeof(NetStatePage));
  if (h.max_connections != abi::kMaxConnections)
    return makeError("net state page: max_connections {} (expected {})", h.max_connections,
                     abi::kMaxConnections);
  if (h.total_size > size || h.total_size < sizeof(NetStatePage))
    return makeError("net state page: total_size {} does not fit the {}-byte mapping", h.total_size,
                     size);
  if (h.protocol_count > abi::kMaxNetProtocols)
    return makeError("net state page: protocol_count {} (at most {})", h.protocol_count,
                     abi::kMaxNetProtocols);
  uint64_t end = sizeof(NetStatePage);
  for (uint32_t i = 0; i < h.protocol_count; ++i) {
    const abi::NetProtocolEntry& e = h.protocols[i];
    if (e.protocol == 0 || e.protocol > abi::kMaxNetProtocol)
      return makeError("net state page: protocol entry {} names unknown protocol {}", i,
                       e.protocol);
    if (e.offset % abi::kNetBlobAlign != 0 || e.offset < end || e.size > h.total_size ||
        e.offset > h.total_size - e.size)
      return makeError("net state page: protocol entry {} (offset {}, size {}) is out of place", i,
                       e.offset, e.size);
    end = e.offset + e.size;
  }
  return {};
}

Result<void> validateConnectionSlot(const NetConnectionSlot& c) {
  const uint32_t state = atomicLoad(c.state);
  if (state > abi::kMaxConnectionState) return makeError("unknown connection state {}", state);
  if (state == static_cast<uint32_t>(abi::ConnectionState::kFree)) return {};
  if (c.protocol == 0 || c.protocol > abi::kMaxNetProtocol)
    return makeError("unknown protocol {}", c.protocol);
  const uint64_t unit = atomicLoad(c.out_unit);
  const uint64_t size = unit & abi::kOutUnitSizeMask;
  if (size > abi::kNetPendingCapacity)
    return makeError("pending output unit of {} bytes exceeds {}", size, abi::kNetPendingCapacity);
  if (c.out_sent > size)
    return makeError("pending output unit: {} of {} bytes sent", c.out_sent, size);
  return {};
}

Result<NetState> NetState::attach(SharedMemory shm) {
  if (auto ok = validateNetStateHeader(shm.data(), shm.size()); !ok) return ok.error();
  auto* page = reinterpret_cast<NetStatePage*>(shm.data());
  const auto self = static_cast<uint32_t>(platform::currentProcessId());
  if (auto claimed = claimRole(page->net_pid, self, "net state page"); !claimed)
    return claimed.error();
  const bool restarted = page->attach_count != 0;
  page->attach_count += 1;
  NetState state(std::move(shm), restarted);
  state.attached_ = true;
  state.self_pid_ = self;
  return state;
}

NetState::NetState(NetState&& o) noexcept
    : shm_(std::move(o.shm_)),
      restarted_(o.restarted_),
      attached_(std::exchange(o.attached_, false)),
      self_pid_(o.self_pid_) {}

NetState::~NetState() {
  if (attached_) releaseRole(page().net_pid, self_pid_);
}

NetConnectionSlot& NetState::connection(uint32_t index) const {
  if (index >= abi::kMaxConnections) std::abort();  // broken invariant: callers check the index
  return page().connections[index];
}

std::vector<abi::NetProtocol> NetState::protocols() const {
  // The table was validated at attach and funkhausd does not write it again.
  std::vector<abi::NetProtocol> out;
  const NetStatePage& p = page();
  for (uint32_t i = 0; i < p.protocol_count && i < abi::kMaxNetProtocols; ++i)
    out.push_back(static_cast<abi::NetProtocol>(p.protocols[i].protocol));
  return out;
}

Result<std::span<std::byte>> NetState::blob(abi::NetProtocol protocol, uint64_t min_size) const {
  const ProtocolDeclaration* declared = findProtocol(protocol);
  const char* name = declared != nullptr ? declared->name : "unknown";
  const NetStatePage& p = page();
  for (uint32_t i = 0; i < p.protocol_count && i < abi::kMaxNetProtocols; ++i) {
    const abi::NetProtocolEntry& e = p.protocols[i];
    if (e.protocol != static_cast<uint32_t>(protocol)) continue;
    if (e.size < min_size)
      return makeError("net state page: the {} blob has {} bytes, needs {}", name, e.size,
                       min_size);
    return std::span<std::byte>(shm_.data() + e.offset, e.size);
  }
  return makeError("net state page: funkhausd reserved no {} blob", name);
}

void NetState::keepConnection(uint32_t index, abi::NetProtocol protocol, uint32_t session) {
  NetConnectionSlot& c = connection(index);
  c.protocol = static_cast<uint32_t>(protocol);
  c.session = session;
  atomicRef(c.state).store(static_cast<uint32_t>(abi::ConnectionState::kKept),
                           std::memory_order_release);
}

void NetState::freeConnection(uint32_t index) {
  NetConnectionSlot& c = connection(index);
  atomicRef(c.state).store(static_cast<uint32_t>(abi::ConnectionState::kFree),
                           std::memory_order_release);
  // Only the header; the output buffer is rewritten before it is used again.
  std::memset(reinterpret_cast<std::byte*>(&c) + sizeof(uint32_t), 0,
              offsetof(NetConnectionSlot, out_data) - sizeof(uint32_t));
}

}  // namespace funkhaus::net
