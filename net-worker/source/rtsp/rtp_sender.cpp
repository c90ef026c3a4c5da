// RtspProtocol's media side: RTP to every playing viewer (UDP with sendmmsg from the shared RTP
// socket, or '$'-framed on the RTSP connection), the audio track's Opus packets, sender reports,
// and the RTCP viewers send.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>

#include "funkhaus/abi/codec.h"
#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/common/byte_order.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/net/rtsp/rtcp.h"
#include "funkhaus/net/rtsp/rtsp_protocol.h"
#include "funkhaus/net/socket_address.h"

namespace funkhaus::net {

namespace {

constexpr size_t kMaxBatch = 64;  // RTP packets per sendmmsg
// A TCP viewer is too slow when the ends of this many of its latest frames are still in the
// kernel's unsent queue: it is that many frames behind, and more frames would only add latency.
constexpr size_t kMaxFramesBehind = Connection::kTrackedMediaEnds;
constexpr size_t kMaxRtcpDatagram = 4096;
// A TCP viewer with more than this queued gets no audio until it caught up (audio is small; the
// queue holds video it has not taken).
constexpr size_t kMaxAudioQueued = 256 * 1024;
// Audio timestamps count samples; they are set from the capture clock again when the two part by
// more than this (the first packet, lost packets, a restarted producer).
constexpr int64_t kAudioResyncTicks = 48 * 100;

bool isPlaying(const abi::RtspViewerSlot& s) {
  return abi::atomicLoad(s.state) == static_cast<uint32_t>(abi::ViewerState::kPlaying);
}

}  // namespace

bool RtspProtocol::serve(const MediaUnit& mu) {
  const AccessUnit& au = mu.unit;
  const media::Codec before = sets_.codec;
  if (media::updateParameterSets(mu.codec, mu.nals, abi::kMaxParameterSetSize, sets_) ||
      !codec_known_) {
    if (sets_.codec != before && codec_known_)
      spdlog::warn("the stream changed codec to {}", media::codecName(sets_.codec));
    codec_known_ = true;
    blob_->storeParameterSets(sets_);
    if (sets_.complete()) answerDeferred(monotonicNs());
  }
  last_capture_ns_ = au.capture_time_ns;
  if (auto ok = packetize(mu.codec, mu.nals, opt_.mtu, fragments_); !ok) {
    ++counters_.errors;
    spdlog::warn("frame {}: {}; dropped", au.frame_number, ok.error().message);
    return false;
  }
  if (fragments_.empty()) return false;
  bool any = false;
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    Session& session = sessions_[i];
    if (session.connection == nullptr) continue;
    abi::RtspViewerSlot& s = blob_->viewer(i);
    if (!isPlaying(s)) continue;
    if (s.codec != static_cast<uint32_t>(mu.codec)) {
      core_.close(*session.connection, "the stream changed codec", NetCore::CloseHow::kOrderly);
      continue;
    }
    if (mu.discontinuity && !mu.keyframe && !session.viewer.needs_keyframe) {
      // Access units were lost upstream: the decoder cannot follow until the next keyframe.
      setNeedsKeyframe(i, true);
      core_.requestKeyframe();
    }
    if (session.viewer.needs_keyframe) {
      if (!mu.keyframe) continue;
      setNeedsKeyframe(i, false);
    }
    const bool whole = s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)
                           ? sendUdp(session, s, mu)
                           : sendTcp(session, s, mu);
    if (whole) {
      ++s.frames_sent;
      core_.viewerDelivered(session.viewer);
      any = true;
    }
  }
  return any;
}

void RtspProtocol::serveAudio(const AccessUnit& packet) {
  const uint32_t channels = abi::opusFormatChannels(packet.format);
  const uint32_t samples = abi::opusFormatSamples(packet.format);
  if (!audio_requested_) return;  // no viewer has the audio track
  if (channels != 2) {
    // RTSP viewers decode stereo Opus (RFC 7587); a multistream packet would be noise to them.
    if (!audio_refusal_logged_)
      spdlog::warn(
          "RTSP: audio packets of {} channels are not sent (viewers take stereo; "
          "logged once)",
          channels);
    audio_refusal_logged_ = true;
    return;
  }
  const size_t size = kRtpHeaderSize + packet.data.size();
  if (size > 0xFFFF) return;
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    Session& session = sessions_[i];
    if (session.connection == nullptr) continue;
    abi::RtspViewerSlot& s = blob_->viewer(i);
    if (!isPlaying(s) || !audioSetUp(s)) continue;
    abi::RtspAudioTrack& audio = s.audio;
    // Sample-exact timestamps on the capture clock: continuous while the two agree (also across
    // a restarted net, which continues from the slot; its gap is a jump on the capture clock).
    const uint32_t captured = rtpAudioTimestamp(packet.capture_time_ns, audio.timestamp_offset);
    const bool timed = (audio.flags & abi::kAudioTrackFlagTimed) != 0;
    const auto apart = static_cast<int32_t>(captured - audio.next_timestamp);
    const uint32_t ts = !timed || (packet.flags & abi::kRecordFlagDiscontinuity) != 0 ||
                                apart > kAudioResyncTicks || apart < -kAudioResyncTicks
                            ? captured
                            : audio.next_timestamp;
    // Sequence and timestamp are taken in the slot before the packet leaves (as the video's): a
    // net killed in between leaves its successor a one-packet gap, never a reuse.
    const auto seq = static_cast<uint16_t>(audio.next_sequence);
    audio.next_sequence = (audio.next_sequence + 1) & 0xFFFF;
    audio.next_timestamp = ts + samples;
    audio.flags |= abi::kAudioTrackFlagTimed;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    frame_unit_.resize(4 + size);
    uint8_t* p = frame_unit_.data();
    writeRtpHeader(p + 4, false, kRtpAudioPayloadType, seq, ts, audio.ssrc);
    std::memcpy(p + 4 + kRtpHeaderSize, packet.data.data(), packet.data.size());
    bool sent = false;
    if (s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)) {
      socklen_t len = 0;
      const sockaddr_storage dest = viewerAddress(s, audio.client_rtp_port, &len);
      sent = sendDatagram(rtp_fd_, p + 4, size, dest, len);
    } else if (Connection& c = *session.connection; c.out().queuedBytes() <= kMaxAudioQueued) {
      p[0] = '$';
      p[1] = audio.rtp_channel;
      bytes::storeBe<uint16_t>(p + 2, static_cast<uint16_t>(size));
      // Not a media unit: the video's frame accounting (mediaQueued, mediaBehind) stays its own.
      sent = core_.push(c, frame_unit_, false);
      core_.flush(c);
    }
    if (sent) {
      ++audio.packets_sent;
      audio.octets_sent += packet.data.size();
      counters_.bytes_out += s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)
                                 ? size
                                 : 0;  // TCP bytes are the core's
    } else {
      ++audio.packets_dropped;
      ++counters_.drops;
    }
  }
}

void RtspProtocol::sendAudioReport(Session& session, abi::RtspViewerSlot& s, uint64_t now_ns,
                                   uint64_t ntp_time) {
  const abi::RtspAudioTrack& audio = s.audio;
  if (!audioSetUp(s) || audio.packets_sent == 0) return;
  uint8_t buffer[4 + 28 + 4 + 4 + 2 + 255 + 4];
  SenderReport sr;
  sr.ssrc = audio.ssrc;
  sr.ntp_time = ntp_time;
  sr.rtp_time = rtpAudioTimestamp(now_ns, audio.timestamp_offset);
  sr.packet_count = static_cast<uint32_t>(audio.packets_sent);
  sr.octet_count = static_cast<uint32_t>(audio.octets_sent);
  sr.cname = cname_;
  const size_t n = buildSenderReport(sr, std::span(buffer + 4, sizeof buffer - 4));
  if (n == 0) return;
  if (s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)) {
    socklen_t len = 0;
    const sockaddr_storage dest = viewerAddress(s, audio.client_rtcp_port, &len);
    if (sendDatagram(rtcp_fd_, buffer + 4, n, dest, len)) counters_.bytes_out += n;
  } else if (!session.connection->out().mediaQueued()) {
    buffer[0] = '$';
    buffer[1] = audio.rtcp_channel;
    bytes::storeBe<uint16_t>(buffer + 2, static_cast<uint16_t>(n));
    core_.push(*session.connection, std::span<const uint8_t>(buffer, n + 4), false);
    core_.flush(*session.connection);
  }
}

void RtspProtocol::dropFrame(uint32_t slot) {
  abi::RtspViewerSlot& s = blob_->viewer(slot);
  ++s.frames_dropped;
  ++counters_.drops;
  core_.viewerDropped(sessions_[slot].viewer);
  setNeedsKeyframe(slot, true);
}

sockaddr_storage RtspProtocol::viewerAddress(const abi::RtspViewerSlot& s, uint16_t port,
                                             socklen_t* len) const {
  sockaddr_storage a{};
  if (s.address_family == AF_INET && udp_family_ == AF_INET) {
    auto& in = reinterpret_cast<sockaddr_in&>(a);
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, s.client_address, 4);
    *len = sizeof in;
  } else {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(a);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    if (s.address_family == AF_INET) {  // IPv4 viewer on a dual-stack socket: v4-mapped
      in6.sin6_addr.s6_addr[10] = 0xFF;
      in6.sin6_addr.s6_addr[11] = 0xFF;
      std::memcpy(in6.sin6_addr.s6_addr + 12, s.client_address, 4);
    } else {
      std::memcpy(&in6.sin6_addr, s.client_address, 16);
    }
    *len = sizeof in6;
  }
  return a;
}

bool RtspProtocol::sendUdp(Session& session, abi::RtspViewerSlot& s, const MediaUnit& mu) {
  const uint32_t ts = rtpTimestamp(mu.unit.capture_time_ns, s.rtp_timestamp_offset);
  socklen_t addr_len = 0;
  sockaddr_storage dest = viewerAddress(s, s.client_rtp_port, &addr_len);
  std::array<std::array<uint8_t, kRtpHeaderSize>, kMaxBatch> headers;
  std::array<DatagramPieces, kMaxBatch> datagrams;
  for (size_t at = 0; at < fragments_.size(); at += kMaxBatch) {
    const size_t count = std::min(kMaxBatch, fragments_.size() - at);
    const uint32_t first = s.next_sequence;
    for (size_t i = 0; i < count; ++i) {
      RtpFragment& f = fragments_[at + i];
      writeRtpHeader(headers[i].data(), f.marker, kRtpPayloadType, static_cast<uint16_t>(first + i),
                     ts, s.ssrc);
      datagrams[i].pieces = {std::span<const uint8_t>(headers[i].data(), kRtpHeaderSize),
                             std::span<const uint8_t>(f.prefix.data(), f.prefix_size), f.data};
    }
    // The numbers are taken in the page before the packets leave: a net killed inside
    // sendDatagrams leaves its successor a gap (a loss the viewer can see), never a reuse (which a
    // jitter buffer would drop as duplicates, keyframe included).
    s.next_sequence = (first + static_cast<uint32_t>(count)) & 0xFFFF;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    const size_t sent = sendDatagrams(rtp_fd_, dest, addr_len, std::span(datagrams.data(), count));
    for (size_t i = 0; i < sent; ++i) {
      const size_t payload = fragments_[at + i].payloadSize();
      s.octets_sent += payload;
      counters_.bytes_out += kRtpHeaderSize + payload;
    }
    s.packets_sent += static_cast<uint64_t>(sent);
    if (sent < count) {
      dropFrame(static_cast<uint32_t>(&session - sessions_.data()));
      return false;
    }
  }
  return true;
}

bool RtspProtocol::sendTcp(Session& session, abi::RtspViewerSlot& s, const MediaUnit& mu) {
  Connection& c = *session.connection;
  if (c.out().mediaQueued() || c.mediaBehind() >= kMaxFramesBehind) {
    // It has not taken the previous frames yet: drop this one whole, resume at a keyframe.
    dropFrame(static_cast<uint32_t>(&session - sessions_.data()));
    return false;
  }
  const uint32_t ts = rtpTimestamp(mu.unit.capture_time_ns, s.rtp_timestamp_offset);
  for (const RtpFragment& f : fragments_) {
    const size_t packet = kRtpHeaderSize + f.payloadSize();
    frame_unit_.resize(4 + packet);
    uint8_t* p = frame_unit_.data();
    p[0] = '$';
    p[1] = s.rtp_channel;
    bytes::storeBe<uint16_t>(p + 2, static_cast<uint16_t>(packet));
    writeRtpHeader(p + 4, f.marker, kRtpPayloadType, static_cast<uint16_t>(s.next_sequence), ts,
                   s.ssrc);
    std::memcpy(p + 4 + kRtpHeaderSize, f.prefix.data(), f.prefix_size);
    std::memcpy(p + 4 + kRtpHeaderSize + f.prefix_size, f.data.data(), f.data.size());
    core_.push(c, frame_unit_, true);
    s.next_sequence = (s.next_sequence + 1) & 0xFFFF;
    ++s.packets_sent;
    s.octets_sent += f.payloadSize();
  }
  c.markMediaEnd();
  core_.flush(c);
  return !c.closed() && !c.out().mediaQueued();
}

void RtspProtocol::sendReports() {
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  const uint64_t now = monotonicNs();
  uint8_t buffer[4 + 28 + 4 + 4 + 2 + 255 + 4];
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    Connection* c = sessions_[i].connection;
    if (c == nullptr) continue;
    abi::RtspViewerSlot& s = blob_->viewer(i);
    if (!isPlaying(s)) continue;
    SenderReport sr;
    sr.ssrc = s.ssrc;
    sr.ntp_time = ntpTime(real.tv_sec, real.tv_nsec);
    sr.rtp_time = rtpTimestamp(now, s.rtp_timestamp_offset);
    sr.packet_count = static_cast<uint32_t>(s.packets_sent);
    sr.octet_count = static_cast<uint32_t>(s.octets_sent);
    sr.cname = cname_;
    const size_t n = buildSenderReport(sr, std::span(buffer + 4, sizeof buffer - 4));
    if (n == 0) continue;
    if (s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)) {
      socklen_t len = 0;
      const sockaddr_storage dest = viewerAddress(s, s.client_rtcp_port, &len);
      if (sendDatagram(rtcp_fd_, buffer + 4, n, dest, len)) counters_.bytes_out += n;
    } else if (!c->out().mediaQueued()) {
      buffer[0] = '$';
      buffer[1] = s.rtcp_channel;
      bytes::storeBe<uint16_t>(buffer + 2, static_cast<uint16_t>(n));
      core_.push(*c, std::span<const uint8_t>(buffer, n + 4), false);
      core_.flush(*c);
    }
    if (!c->closed()) sendAudioReport(sessions_[i], s, now, sr.ntp_time);
  }
}

void RtspProtocol::onDatagram(uint32_t tag, std::span<const uint8_t> data,
                              const sockaddr_storage& from) {
  // Viewers send NAT keep-alive packets to the RTP port; nothing in them is for us.
  if (tag != abi::kEndpointRtspRtcp) return;
  if (data.size() > kMaxRtcpDatagram) {
    ++counters_.errors;
    return;
  }
  const auto slot = slotByAddress(from);
  handleRtcp(data, slot ? static_cast<int>(*slot) : -1);
}

std::optional<uint32_t> RtspProtocol::slotByAddress(const sockaddr_storage& from_raw) const {
  const sockaddr_storage from = unmapped(from_raw);
  const uint16_t port = portOf(from);
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    if (sessions_[i].connection == nullptr) continue;
    const abi::RtspViewerSlot& s = blob_->viewer(i);
    if (s.transport != static_cast<uint32_t>(abi::ViewerTransport::kUdp)) continue;
    if (s.address_family != static_cast<uint32_t>(from.ss_family) ||
        (s.client_rtcp_port != port && !(audioSetUp(s) && s.audio.client_rtcp_port == port)))
      continue;
    const void* addr =
        from.ss_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(from).sin_addr)
            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(from).sin6_addr);
    if (std::memcmp(addr, s.client_address, from.ss_family == AF_INET ? 4 : 16) == 0) return i;
  }
  return std::nullopt;
}

void RtspProtocol::handleRtcp(std::span<const uint8_t> data, int slot_hint) {
  auto info = parseRtcp(data);
  if (!info) {
    ++counters_.errors;
    spdlog::debug("RTCP refused: {}", info.error().message);
    return;
  }
  if (slot_hint < 0) return;  // only viewers we know may report or ask
  const auto slot = static_cast<uint32_t>(slot_hint);
  abi::RtspViewerSlot& s = blob_->viewer(slot);
  const uint64_t now = monotonicNs();
  s.last_activity_ns = now;
  for (const ReportBlock& b : info->reports) {
    if (b.source_ssrc != s.ssrc) continue;
    s.rr_fraction_lost = b.fraction_lost;
    s.rr_cumulative_lost = static_cast<uint32_t>(b.cumulative_lost) & 0xFFFFFF;
    s.rr_highest_sequence = b.highest_sequence;
    s.rr_jitter = b.jitter;
    ++s.rr_count;
    s.rr_last_ns = now;
  }
  for (const KeyframeRequest& k : info->keyframe_requests) {
    if (k.media_ssrc != s.ssrc && k.media_ssrc != 0) continue;
    ++s.keyframe_requests;
    ++counters_.keyframes_received;
    spdlog::debug("slot {}: {} received", slot,
                  k.kind == KeyframeRequestKind::kPli ? "PLI" : "FIR");
    core_.requestKeyframe();
  }
}

}  // namespace funkhaus::net
