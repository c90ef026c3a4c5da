// Net state page: attach, validation, parameter sets.
#include "funkhaus/net/net_state.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "funkhaus/common/peer.h"

namespace funkhaus::net {

using abi::atomicLoad;
using abi::atomicRef;
using abi::NetStatePage;
using abi::NetViewerSlot;

Result<void> validateNetStateHeader(const std::byte* base, size_t size) {
  if (size < sizeof(NetStatePage))
    return makeError("net state page: mapping of {} bytes is smaller than the {}-byte page", size,
                     sizeof(NetStatePage));
  uint32_t fields[4];
  std::memcpy(fields, base, sizeof fields);
  if (fields[0] != abi::kNetStateMagic)
    return makeError("net state page: bad magic 0x{:08x} (expected 0x{:08x})", fields[0],
                     abi::kNetStateMagic);
  if (fields[1] != abi::kAbiVersion)
    return makeError("net state page: ABI version {} (this build speaks {})", fields[1],
                     abi::kAbiVersion);
  if (fields[2] != sizeof(NetStatePage))
    return makeError("net state page: header_size {} (expected {})", fields[2],
                     sizeof(NetStatePage));
  if (fields[3] != abi::kMaxViewers)
    return makeError("net state page: max_viewers {} (expected {})", fields[3], abi::kMaxViewers);
  return {};
}

Result<void> validateViewerSlot(const NetViewerSlot& s) {
  const uint32_t state = atomicLoad(s.state);
  if (state > abi::kMaxViewerState) return makeError("unknown state {}", state);
  if (state == static_cast<uint32_t>(abi::ViewerState::kFree)) return {};
  if (s.session_id == 0) return makeError("session id 0");
  if (s.codec != abi::kCodecH264 && s.codec != abi::kCodecHevc)
    return makeError("unknown codec {}", s.codec);
  if ((s.flags & ~abi::kViewerFlagsKnown) != 0) return makeError("unknown flags 0x{:x}", s.flags);
  if (s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)) {
    if (s.address_family != AF_INET && s.address_family != AF_INET6)
      return makeError("unknown address family {}", s.address_family);
    if (s.client_rtp_port == 0 || s.client_rtcp_port == 0) return makeError("client port 0");
  } else if (s.transport != static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved)) {
    return makeError("unknown transport {}", s.transport);
  }
  const uint64_t unit = atomicLoad(s.out_unit);
  const uint64_t size = unit & abi::kOutUnitSizeMask;
  if (size > abi::kNetPendingCapacity)
    return makeError("pending output unit of {} bytes exceeds {}", size, abi::kNetPendingCapacity);
  if (s.out_sent > size)
    return makeError("pending output unit: {} of {} bytes sent", s.out_sent, size);
  return {};
}

std::optional<ParameterSets> readParameterSets(const NetStatePage& page) {
  if (atomicLoad(page.parameter_sets_valid) != 1) return std::nullopt;
  const auto codec = codecFromRecord(page.codec);
  if (!codec) return std::nullopt;
  ParameterSets sets;
  sets.codec = *codec;
  auto take = [&](const abi::NetParameterSet& ps, ParameterSetKind kind,
                  std::vector<uint8_t>& out) {
    if (ps.size == 0) return true;
    if (ps.size > abi::kMaxParameterSetSize) return false;
    const NalUnit nal(ps.data, ps.size);
    if (parameterSetKind(*codec, nal) != kind) return false;
    out.assign(nal.begin(), nal.end());
    return true;
  };
  if (!take(page.vps, ParameterSetKind::kVps, sets.vps) ||
      !take(page.sps, ParameterSetKind::kSps, sets.sps) ||
      !take(page.pps, ParameterSetKind::kPps, sets.pps))
    return std::nullopt;
  if (*codec == Codec::kH264 && !sets.vps.empty()) return std::nullopt;
  if (!sets.complete()) return std::nullopt;
  return sets;
}

Result<NetState> NetState::attach(SharedMemory shm) {
  if (auto ok = validateNetStateHeader(shm.data(), shm.size()); !ok) return ok.error();
  auto* page = reinterpret_cast<NetStatePage*>(shm.data());
  const auto self = static_cast<uint32_t>(getpid());
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

NetViewerSlot& NetState::slot(uint32_t index) const {
  if (index >= abi::kMaxViewers) std::abort();  // broken invariant: callers check the index
  return page().viewers[index];
}

void NetState::storeParameterSets(const ParameterSets& sets) {
  NetStatePage& p = page();
  atomicRef(p.parameter_sets_valid).store(0, std::memory_order_release);
  auto put = [](abi::NetParameterSet& ps, const std::vector<uint8_t>& nal) {
    if (nal.size() > abi::kMaxParameterSetSize) return false;
    ps.size = static_cast<uint32_t>(nal.size());
    if (!nal.empty()) std::memcpy(ps.data, nal.data(), nal.size());
    return true;
  };
  p.codec = static_cast<uint32_t>(sets.codec);
  const bool fits = put(p.vps, sets.vps) && put(p.sps, sets.sps) && put(p.pps, sets.pps);
  if (fits && sets.complete())
    atomicRef(p.parameter_sets_valid).store(1, std::memory_order_release);
}

void NetState::freeSlot(uint32_t index) {
  NetViewerSlot& s = slot(index);
  atomicRef(s.state).store(static_cast<uint32_t>(abi::ViewerState::kFree),
                           std::memory_order_release);
  // Only the header; the output buffer is rewritten before it is used again.
  std::memset(reinterpret_cast<std::byte*>(&s) + sizeof(uint32_t), 0,
              offsetof(NetViewerSlot, out_data) - sizeof(uint32_t));
}

}  // namespace funkhaus::net
