// RTCP (RFC 3550, 4585, 5104): building compound sender reports, parsing what viewers send
// (receiver reports, PLI, FIR, generic NACK, BYE). funkhaus-net main thread; input is untrusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::net {

struct SenderReport {
  uint32_t ssrc = 0;
  uint64_t ntp_time = 0;  // 32.32 fixed point seconds since 1900
  uint32_t rtp_time = 0;  // the same instant on the RTP clock
  uint32_t packet_count = 0;
  uint32_t octet_count = 0;
  std::string_view cname;  // at most 255 bytes are sent
};

// Writes SR (no report blocks) + SDES with one CNAME item into `out`. Returns the bytes
// written, or 0 if `out` is too small.
size_t buildSenderReport(const SenderReport& report, std::span<uint8_t> out);

// NTP time of a CLOCK_REALTIME reading.
uint64_t ntpTime(int64_t realtime_sec, int64_t realtime_nsec);

struct ReportBlock {
  uint32_t reporter_ssrc = 0;
  uint32_t source_ssrc = 0;  // the SSRC the report is about (ours)
  uint8_t fraction_lost = 0;
  int32_t cumulative_lost = 0;  // sign-extended from 24 bits
  uint32_t highest_sequence = 0;
  uint32_t jitter = 0;
  uint32_t last_sr = 0;
  uint32_t delay_since_last_sr = 0;
};

enum class KeyframeRequestKind { kPli, kFir };

struct KeyframeRequest {
  KeyframeRequestKind kind = KeyframeRequestKind::kPli;
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;  // PLI: the media source; FIR: the SSRC of one FCI entry
};

struct RtcpInfo {
  uint32_t packets = 0;  // RTCP packets in the compound
  std::vector<ReportBlock> reports;
  std::vector<KeyframeRequest> keyframe_requests;
  uint32_t nacks = 0;          // generic NACK FCI entries
  std::vector<uint32_t> byes;  // SSRCs saying goodbye
};

// Parses a (compound or reduced-size) RTCP datagram. Every packet must be version 2 with a
// length inside the datagram and a consistent padding and item count; otherwise the whole
// datagram is refused with an error naming the first problem. Unknown packet types are skipped.
Result<RtcpInfo> parseRtcp(std::span<const uint8_t> datagram);

}  // namespace funkhaus::net
