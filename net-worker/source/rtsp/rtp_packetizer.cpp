// RTP packetizer: RFC 6184 section 5.8 (FU-A) and RFC 7798 section 4.4.3 (FU).
#include "funkhaus/net/rtsp/rtp_packetizer.h"

#include <algorithm>

namespace funkhaus::net {

namespace {

constexpr uint8_t kFuStart = 0x80;
constexpr uint8_t kFuEnd = 0x40;
constexpr uint8_t kH264FuA = 28;
constexpr uint8_t kHevcFu = 49;

}  // namespace

Result<void> packetize(Codec codec, std::span<const NalUnit> nals, size_t mtu,
                       std::vector<RtpFragment>& out) {
  out.clear();
  if (mtu < kMinMtu || mtu > kMaxMtu)
    return makeError("RTP payload budget {} is out of range ({}..{})", mtu, kMinMtu, kMaxMtu);
  const size_t header = codec == Codec::kH264 ? 1 : 2;  // NAL unit header bytes
  const size_t fu_prefix = header + 1;                  // FU indicator/payload header + FU header
  for (NalUnit nal : nals) {
    if (nal.size() < header) {
      out.clear();
      return makeError("{} NAL unit of {} bytes has no complete header", media::codecName(codec),
                       nal.size());
    }
    if (media::isAccessUnitDelimiter(codec, nal)) continue;
    if (nal.size() <= mtu) {
      RtpFragment f;
      f.data = nal;
      out.push_back(f);
      continue;
    }
    // Fragmentation unit: the NAL header is folded into the FU indicator/header; the body is
    // split into chunks of at most mtu - fu_prefix bytes.
    const std::span<const uint8_t> body = nal.subspan(header);
    const size_t chunk = mtu - fu_prefix;
    for (size_t at = 0; at < body.size(); at += chunk) {
      const size_t len = std::min(chunk, body.size() - at);
      RtpFragment f;
      f.prefix_size = static_cast<uint8_t>(fu_prefix);
      uint8_t flags = 0;
      if (at == 0) flags |= kFuStart;
      if (at + len == body.size()) flags |= kFuEnd;
      if (codec == Codec::kH264) {
        f.prefix[0] = static_cast<uint8_t>((nal[0] & 0xE0) | kH264FuA);  // F, NRI, type 28
        f.prefix[1] = static_cast<uint8_t>(flags | (nal[0] & 0x1F));     // S, E, R=0, type
      } else {
        // PayloadHdr: F and LayerId/TID of the NAL unit, type 49; FU header: S, E, type.
        f.prefix[0] = static_cast<uint8_t>((nal[0] & 0x81) | (kHevcFu << 1));
        f.prefix[1] = nal[1];
        f.prefix[2] = static_cast<uint8_t>(flags | ((nal[0] >> 1) & 0x3F));
      }
      f.data = body.subspan(at, len);
      out.push_back(f);
    }
  }
  if (!out.empty()) out.back().marker = true;
  return {};
}

void writeRtpHeader(uint8_t* out, bool marker, uint8_t payload_type, uint16_t sequence,
                    uint32_t timestamp, uint32_t ssrc) {
  out[0] = 0x80;  // V=2
  out[1] = static_cast<uint8_t>((marker ? 0x80 : 0) | (payload_type & 0x7F));
  out[2] = static_cast<uint8_t>(sequence >> 8);
  out[3] = static_cast<uint8_t>(sequence);
  for (int i = 0; i < 4; ++i) {
    out[4 + i] = static_cast<uint8_t>(timestamp >> (24 - 8 * i));
    out[8 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
  }
}

uint32_t rtpAudioTimestamp(uint64_t monotonic_ns, uint32_t offset) {
  const uint64_t seconds = monotonic_ns / 1'000'000'000u;
  const uint64_t rest = monotonic_ns % 1'000'000'000u;
  const uint64_t ticks = seconds * kRtpAudioClockRate + rest * kRtpAudioClockRate / 1'000'000'000u;
  return static_cast<uint32_t>(ticks) + offset;
}

uint32_t rtpTimestamp(uint64_t monotonic_ns, uint32_t offset) {
  // Split so that the product cannot overflow 64 bits for any uptime.
  const uint64_t seconds = monotonic_ns / 1'000'000'000u;
  const uint64_t rest = monotonic_ns % 1'000'000'000u;
  const uint64_t ticks = seconds * kRtpClockRate + rest * kRtpClockRate / 1'000'000'000u;
  return static_cast<uint32_t>(ticks) + offset;
}

}  // namespace funkhaus::net
