// RTCP build and parse. Packet types: SR 200, RR 201, SDES 202, BYE 203, RTPFB 205 (FMT 1 generic
// NACK), PSFB 206 (FMT 1 PLI, FMT 4 FIR).
#include "funkhaus/net/rtsp/rtcp.h"
#include "funkhaus/common/byte_order.h"

#include <algorithm>

namespace funkhaus::net {

namespace {

constexpr uint8_t kSr = 200;
constexpr uint8_t kRr = 201;
constexpr uint8_t kSdes = 202;
constexpr uint8_t kBye = 203;
constexpr uint8_t kRtpfb = 205;
constexpr uint8_t kPsfb = 206;
constexpr size_t kReportBlockSize = 24;

ReportBlock readReportBlock(uint32_t reporter, const uint8_t* p) {
  ReportBlock b;
  b.reporter_ssrc = reporter;
  b.source_ssrc = bytes::be32(p);
  b.fraction_lost = p[4];
  uint32_t lost = uint32_t{p[5]} << 16 | uint32_t{p[6]} << 8 | p[7];
  if (lost & 0x800000) lost |= 0xFF000000;  // 24-bit two's complement
  b.cumulative_lost = static_cast<int32_t>(lost);
  b.highest_sequence = bytes::be32(p + 8);
  b.jitter = bytes::be32(p + 12);
  b.last_sr = bytes::be32(p + 16);
  b.delay_since_last_sr = bytes::be32(p + 20);
  return b;
}

}  // namespace

uint64_t ntpTime(int64_t realtime_sec, int64_t realtime_nsec) {
  constexpr uint64_t kUnixToNtp = 2'208'988'800u;  // seconds from 1900 to 1970
  const uint64_t sec = static_cast<uint64_t>(realtime_sec) + kUnixToNtp;
  const uint64_t frac = (static_cast<uint64_t>(realtime_nsec) << 32) / 1'000'000'000u;
  return sec << 32 | (frac & 0xFFFFFFFFu);
}

size_t buildSenderReport(const SenderReport& r, std::span<uint8_t> out) {
  const size_t cname = std::min<size_t>(r.cname.size(), 255);
  // SDES chunk: SSRC, CNAME item (type, length, text), END (0), padded to 32 bits.
  const size_t chunk = (4 + 2 + cname + 1 + 3) / 4 * 4;
  const size_t sr_size = 28;
  const size_t sdes_size = 4 + chunk;
  const size_t total = sr_size + sdes_size;
  if (out.size() < total) return 0;
  uint8_t* p = out.data();
  std::fill(p, p + total, uint8_t{0});
  p[0] = 0x80;  // V=2, RC=0
  p[1] = kSr;
  bytes::storeBe<uint16_t>(p + 2, static_cast<uint16_t>(sr_size / 4 - 1));
  bytes::storeBe<uint32_t>(p + 4, r.ssrc);
  bytes::storeBe<uint32_t>(p + 8, static_cast<uint32_t>(r.ntp_time >> 32));
  bytes::storeBe<uint32_t>(p + 12, static_cast<uint32_t>(r.ntp_time));
  bytes::storeBe<uint32_t>(p + 16, r.rtp_time);
  bytes::storeBe<uint32_t>(p + 20, r.packet_count);
  bytes::storeBe<uint32_t>(p + 24, r.octet_count);
  uint8_t* s = p + sr_size;
  s[0] = 0x81;  // V=2, SC=1
  s[1] = kSdes;
  bytes::storeBe<uint16_t>(s + 2, static_cast<uint16_t>(sdes_size / 4 - 1));
  bytes::storeBe<uint32_t>(s + 4, r.ssrc);
  s[8] = 1;  // CNAME
  s[9] = static_cast<uint8_t>(cname);
  std::copy_n(r.cname.data(), cname, s + 10);
  // The END item and the padding are the zeros already there.
  return total;
}

Result<RtcpInfo> parseRtcp(std::span<const uint8_t> d) {
  RtcpInfo info;
  if (d.empty()) return makeError("empty RTCP datagram");
  size_t at = 0;
  while (at < d.size()) {
    const size_t left = d.size() - at;
    if (left < 4) return makeError("RTCP packet {}: {} trailing bytes", info.packets, left);
    const uint8_t* p = d.data() + at;
    if ((p[0] >> 6) != 2)
      return makeError("RTCP packet {}: version {} (expected 2)", info.packets, p[0] >> 6);
    const size_t length = (size_t{p[2]} << 8 | p[3]) * 4 + 4;
    if (length > left)
      return makeError("RTCP packet {}: length {} exceeds the {} bytes left", info.packets, length,
                       left);
    size_t body = length;  // bytes of this packet without padding
    if (p[0] & 0x20) {
      const uint8_t pad = p[length - 1];
      if (pad == 0 || pad > length - 4)
        return makeError("RTCP packet {}: bad padding count {}", info.packets, pad);
      body = length - pad;
    }
    const uint8_t count = p[0] & 0x1F;  // RC, SC or FMT
    const uint8_t type = p[1];
    switch (type) {
      case kSr:
      case kRr: {
        const size_t fixed = type == kSr ? 28 : 8;
        if (body < fixed + count * kReportBlockSize)
          return makeError("RTCP {} with {} report blocks needs {} bytes, has {}",
                           type == kSr ? "SR" : "RR", count, fixed + count * kReportBlockSize,
                           body);
        const uint32_t reporter = bytes::be32(p + 4);
        for (size_t i = 0; i < count; ++i)
          info.reports.push_back(readReportBlock(reporter, p + fixed + i * kReportBlockSize));
        break;
      }
      case kBye: {
        if (body < 4 + size_t{count} * 4)
          return makeError("RTCP BYE with {} SSRCs needs {} bytes, has {}", count, 4 + count * 4,
                           body);
        for (size_t i = 0; i < count; ++i) info.byes.push_back(bytes::be32(p + 4 + i * 4));
        break;
      }
      case kRtpfb:
      case kPsfb: {
        if (body < 12) return makeError("RTCP feedback packet of {} bytes (< 12)", body);
        const uint32_t sender = bytes::be32(p + 4);
        const uint32_t media = bytes::be32(p + 8);
        const size_t fci = body - 12;
        if (type == kRtpfb && count == 1) {  // generic NACK: 4-byte FCI entries
          if (fci % 4 != 0) return makeError("RTCP NACK with {} FCI bytes", fci);
          info.nacks += static_cast<uint32_t>(fci / 4);
        } else if (type == kPsfb && count == 1) {  // PLI: no FCI
          info.keyframe_requests.push_back({KeyframeRequestKind::kPli, sender, media});
        } else if (type == kPsfb && count == 4) {  // FIR: 8-byte FCI entries (SSRC, seq, 0)
          if (fci == 0 || fci % 8 != 0) return makeError("RTCP FIR with {} FCI bytes", fci);
          for (size_t i = 0; i < fci; i += 8)
            info.keyframe_requests.push_back(
                {KeyframeRequestKind::kFir, sender, bytes::be32(p + 12 + i)});
        }
        break;
      }
      case kSdes:
      default:
        break;  // nothing we need (SDES, APP, XR, ...)
    }
    ++info.packets;
    at += length;
  }
  return info;
}

}  // namespace funkhaus::net
