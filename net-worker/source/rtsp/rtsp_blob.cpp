// The RTSP blob: open, viewer-slot validation, parameter sets.
#include "funkhaus/net/rtsp/rtsp_blob.h"

#include <cstdlib>
#include <cstring>

#include "funkhaus/net/socket.h"

namespace funkhaus::net {

using abi::atomicLoad;
using abi::atomicRef;
using abi::RtspState;
using abi::RtspViewerSlot;

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
  const abi::RtspAudioTrack& a = s.audio;
  if ((a.flags & ~abi::kAudioTrackFlagsKnown) != 0)
    return makeError("unknown audio flags 0x{:x}", a.flags);
  if (!audioSetUp(s)) {
    if (a.flags != 0) return makeError("audio flags 0x{:x} without an audio track", a.flags);
    return {};
  }
  if (a.next_sequence > 0xFFFF) return makeError("audio sequence {} over 16 bits", a.next_sequence);
  if (a.ssrc == s.ssrc) return makeError("audio ssrc {:08X} is the video's", a.ssrc);
  if (s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)) {
    if (a.client_rtp_port == 0 || a.client_rtcp_port == 0) return makeError("audio client port 0");
  } else {
    if (a.rtp_channel == a.rtcp_channel || a.rtp_channel == s.rtp_channel ||
        a.rtp_channel == s.rtcp_channel || a.rtcp_channel == s.rtp_channel ||
        a.rtcp_channel == s.rtcp_channel)
      return makeError("audio channels {}-{} overlap the video's {}-{}", a.rtp_channel,
                       a.rtcp_channel, s.rtp_channel, s.rtcp_channel);
  }
  return {};
}

std::optional<media::ParameterSets> readParameterSets(const RtspState& page) {
  if (atomicLoad(page.parameter_sets_valid) != 1) return std::nullopt;
  const auto codec = media::codecFromId(page.codec);
  if (!codec) return std::nullopt;
  media::ParameterSets sets;
  sets.codec = *codec;
  auto take = [&](const abi::NetParameterSet& ps, media::ParameterSetKind kind,
                  std::vector<uint8_t>& out) {
    if (ps.size == 0) return true;
    if (ps.size > abi::kMaxParameterSetSize) return false;
    const media::NalUnit nal(ps.data, ps.size);
    if (media::parameterSetKind(*codec, nal) != kind) return false;
    out.assign(nal.begin(), nal.end());
    return true;
  };
  if (!take(page.vps, media::ParameterSetKind::kVps, sets.vps) ||
      !take(page.sps, media::ParameterSetKind::kSps, sets.sps) ||
      !take(page.pps, media::ParameterSetKind::kPps, sets.pps))
    return std::nullopt;
  if (*codec == media::Codec::kH264 && !sets.vps.empty()) return std::nullopt;
  if (!sets.complete()) return std::nullopt;
  return sets;
}

Result<RtspBlob> RtspBlob::open(const NetState& state) {
  auto bytes = state.blob(abi::NetProtocol::kRtsp, sizeof(RtspState));
  if (!bytes) return bytes.error();
  auto* rtsp = reinterpret_cast<RtspState*>(bytes->data());
  const abi::NetBlobHeader& h = rtsp->header;
  if (h.magic != abi::kRtspStateMagic || h.version != abi::kRtspStateVersion ||
      h.size != sizeof(RtspState)) {
    // Fresh (all zero), or left by another build: start the protocol afresh.
    std::memset(static_cast<void*>(rtsp), 0, sizeof(RtspState));
    rtsp->header.magic = abi::kRtspStateMagic;
    rtsp->header.version = abi::kRtspStateVersion;
    rtsp->header.size = sizeof(RtspState);
  }
  return RtspBlob(rtsp);
}

RtspViewerSlot& RtspBlob::viewer(uint32_t index) const {
  if (index >= abi::kMaxConnections) std::abort();  // broken invariant: callers check the index
  return state_->viewers[index];
}

void RtspBlob::storeParameterSets(const media::ParameterSets& sets) {
  RtspState& p = *state_;
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

void RtspBlob::freeViewer(uint32_t index) {
  RtspViewerSlot& s = viewer(index);
  atomicRef(s.state).store(static_cast<uint32_t>(abi::ViewerState::kFree),
                           std::memory_order_release);
  std::memset(reinterpret_cast<std::byte*>(&s) + sizeof(uint32_t), 0,
              sizeof(RtspViewerSlot) - sizeof(uint32_t));
}

}  // namespace funkhaus::net
