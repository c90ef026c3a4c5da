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
using abi::NetConnectionSlot;
using abi::NetStatePage;
using abi::RtspState;
using abi::RtspViewerSlot;

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

Result<void> validateViewerSlot(const RtspViewerSlot& s) {
  const uint32_t state = atomicLoad(s.state);
  if (state > abi::kMaxViewerState) return makeError("unknown state {}", state);
  if (state == static_cast<uint32_t>(abi::ViewerState::kFree)) return {};
  if (s.session_id == 0) return makeError("session id 0");
  if (!media::codecFromId(s.codec)) return makeError("unknown codec {}", s.codec);
  if ((s.flags & ~abi::kViewerFlagsKnown) != 0) return makeError("unknown flags 0x{:x}", s.flags);
  if (s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)) {
    if (s.address_family != AF_INET && s.address_family != AF_INET6)
      return makeError("unknown address family {}", s.address_family);
    if (s.client_rtp_port == 0 || s.client_rtcp_port == 0) return makeError("client port 0");
  } else if (s.transport != static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved)) {
    return makeError("unknown transport {}", s.transport);
  }
  return {};
}

std::optional<ParameterSets> readParameterSets(const RtspState& page) {
  if (atomicLoad(page.parameter_sets_valid) != 1) return std::nullopt;
  const auto codec = media::codecFromId(page.codec);
  if (!codec) return std::nullopt;
  ParameterSets sets;
  sets.codec = *codec;
  auto take = [&](const abi::NetParameterSet& ps, media::ParameterSetKind kind,
                  std::vector<uint8_t>& out) {
    if (ps.size == 0) return true;
    if (ps.size > abi::kMaxParameterSetSize) return false;
    const NalUnit nal(ps.data, ps.size);
    if (media::parameterSetKind(*codec, nal) != kind) return false;
    out.assign(nal.begin(), nal.end());
    return true;
  };
  if (!take(page.vps, media::ParameterSetKind::kVps, sets.vps) ||
      !take(page.sps, media::ParameterSetKind::kSps, sets.sps) ||
      !take(page.pps, media::ParameterSetKind::kPps, sets.pps))
    return std::nullopt;
  if (*codec == Codec::kH264 && !sets.vps.empty()) return std::nullopt;
  if (!sets.complete()) return std::nullopt;
  return sets;
}

Result<NetState> NetState::attach(SharedMemory shm) {
  if (auto ok = validateNetStateHeader(shm.data(), shm.size()); !ok) return ok.error();
  auto* page = reinterpret_cast<NetStatePage*>(shm.data());
  RtspState* rtsp = nullptr;
  for (uint32_t i = 0; i < page->protocol_count; ++i) {
    const abi::NetProtocolEntry& e = page->protocols[i];
    if (e.protocol != static_cast<uint32_t>(abi::NetProtocol::kRtsp)) continue;
    if (e.size < sizeof(RtspState))
      return makeError("net state page: the RTSP blob has {} bytes, needs {}", e.size,
                       sizeof(RtspState));
    rtsp = reinterpret_cast<RtspState*>(shm.data() + e.offset);
  }
  if (rtsp == nullptr) return makeError("net state page: funkhausd reserved no RTSP blob");
  const auto self = static_cast<uint32_t>(getpid());
  if (auto claimed = claimRole(page->net_pid, self, "net state page"); !claimed)
    return claimed.error();
  const abi::NetBlobHeader& h = rtsp->header;
  if (h.magic != abi::kRtspStateMagic || h.version != abi::kRtspStateVersion ||
      h.size != sizeof(RtspState)) {
    // Fresh (all zero), or left by another build: start the protocol afresh.
    std::memset(static_cast<void*>(rtsp), 0, sizeof(RtspState));
    rtsp->header.magic = abi::kRtspStateMagic;
    rtsp->header.version = abi::kRtspStateVersion;
    rtsp->header.size = sizeof(RtspState);
  }
  const bool restarted = page->attach_count != 0;
  page->attach_count += 1;
  NetState state(std::move(shm), rtsp, restarted);
  state.attached_ = true;
  state.self_pid_ = self;
  return state;
}

NetState::NetState(NetState&& o) noexcept
    : shm_(std::move(o.shm_)),
      rtsp_(o.rtsp_),
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

RtspViewerSlot& NetState::slot(uint32_t index) const {
  if (index >= abi::kMaxConnections) std::abort();  // broken invariant: callers check the index
  return rtsp().viewers[index];
}

void NetState::storeParameterSets(const ParameterSets& sets) {
  RtspState& p = rtsp();
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

void NetState::keepConnection(uint32_t index) {
  NetConnectionSlot& c = connection(index);
  c.protocol = static_cast<uint32_t>(abi::NetProtocol::kRtsp);
  c.session = index;
  atomicRef(c.state).store(static_cast<uint32_t>(abi::ConnectionState::kKept),
                           std::memory_order_release);
}

void NetState::freeSlot(uint32_t index) {
  RtspViewerSlot& s = slot(index);
  atomicRef(s.state).store(static_cast<uint32_t>(abi::ViewerState::kFree),
                           std::memory_order_release);
  std::memset(reinterpret_cast<std::byte*>(&s) + sizeof(uint32_t), 0,
              sizeof(RtspViewerSlot) - sizeof(uint32_t));
  NetConnectionSlot& c = connection(index);
  atomicRef(c.state).store(static_cast<uint32_t>(abi::ConnectionState::kFree),
                           std::memory_order_release);
  // Only the header; the output buffer is rewritten before it is used again.
  std::memset(reinterpret_cast<std::byte*>(&c) + sizeof(uint32_t), 0,
              offsetof(NetConnectionSlot, out_data) - sizeof(uint32_t));
}

}  // namespace funkhaus::net
