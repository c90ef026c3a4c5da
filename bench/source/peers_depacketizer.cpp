// H.264 RTP depacketizer (RFC 6184: single NAL unit, STAP-A, FU-A) and the matching of decoded
// barcodes to the X client's draw times.
#include <algorithm>

#include "funkhaus/bench/peers.h"

namespace funkhaus::bench {

namespace {

constexpr uint8_t kStapA = 24;
constexpr uint8_t kFuA = 28;
constexpr uint8_t kStartCode[4] = {0, 0, 0, 1};

}  // namespace

void H264Depacketizer::appendNal(uint8_t header, std::span<const uint8_t> rest) {
  if (current_.annexb.size() + 5 + rest.size() > kMaxUnitBytes) {
    broken_ = true;
    return;
  }
  current_.annexb.insert(current_.annexb.end(), kStartCode, kStartCode + 4);
  current_.annexb.push_back(header);
  current_.annexb.insert(current_.annexb.end(), rest.begin(), rest.end());
}

// False: a payload this depacketizer cannot take (the unit is then broken).
bool H264Depacketizer::appendPayload(std::span<const uint8_t> p) {
  if (p.empty()) return false;
  const uint8_t type = p[0] & 0x1F;
  if (type == kFuA) {
    if (p.size() < 3) return false;  // indicator, header and at least one byte
    const bool start = (p[1] & 0x80) != 0;
    const bool end = (p[1] & 0x40) != 0;
    if (start == in_fragment_) return false;  // a start inside a fragment, or a middle without
    if (start) {
      const auto nal_header = static_cast<uint8_t>((p[0] & 0xE0) | (p[1] & 0x1F));
      appendNal(nal_header, p.subspan(2));
    } else {
      if (current_.annexb.size() + p.size() > kMaxUnitBytes) return false;
      current_.annexb.insert(current_.annexb.end(), p.begin() + 2, p.end());
    }
    in_fragment_ = !end;
    return true;
  }
  if (in_fragment_) return false;  // a fragmented NAL unit never ended
  if (type >= 1 && type <= 23) {
    appendNal(p[0], p.subspan(1));
    return true;
  }
  if (type == kStapA) {
    size_t at = 1;
    if (at == p.size()) return false;
    while (at < p.size()) {
      if (p.size() - at < 2) return false;
      const size_t size = size_t{p[at]} << 8 | p[at + 1];
      at += 2;
      if (size == 0 || size > p.size() - at) return false;
      appendNal(p[at], p.subspan(at + 1, size - 1));
      at += size;
    }
    return true;
  }
  return false;  // 0, 25 STAP-B, 26/27 MTAP, 29 FU-B, 30, 31
}

void H264Depacketizer::dropCurrent() {
  ++counters_.dropped_frames;
  in_unit_ = false;
  broken_ = false;
  in_fragment_ = false;
  current_ = AccessUnit{};
}

std::optional<AccessUnit> H264Depacketizer::push(const RtpHeader& h,
                                                 std::span<const uint8_t> datagram,
                                                 uint64_t stamp_ns) {
  ++counters_.packets;
  bool gap = false;
  if (next_sequence_ && h.sequence != *next_sequence_) {
    ++counters_.sequence_gaps;
    gap = true;
  }
  next_sequence_ = static_cast<uint16_t>(h.sequence + 1);
  if (in_unit_ && h.timestamp != current_.rtp_timestamp) dropCurrent();  // its marker was lost
  if (!in_unit_) {
    in_unit_ = true;
    current_ = AccessUnit{};
    current_.rtp_timestamp = h.timestamp;
    broken_ = false;
    in_fragment_ = false;
  }
  // A gap right before a unit's first packet may have taken its head: broken too.
  broken_ = broken_ || gap;
  ++current_.packets;
  if (!broken_ && h.payload_offset <= datagram.size() &&
      h.payload_size <= datagram.size() - h.payload_offset) {
    if (!appendPayload(datagram.subspan(h.payload_offset, h.payload_size))) {
      ++counters_.bad_payloads;
      broken_ = true;
    }
  }
  if (!h.marker) return std::nullopt;
  if (broken_ || in_fragment_ || current_.annexb.empty()) {
    dropCurrent();
    return std::nullopt;
  }
  current_.last_packet_ns = stamp_ns;
  AccessUnit out = std::move(current_);
  current_ = AccessUnit{};
  in_unit_ = false;
  ++counters_.frames;
  return out;
}

MatchResult matchUnits(std::span<const DecodedUnit> units, std::span<const uint64_t> draw_ns,
                       uint64_t from_ns, uint64_t to_ns) {
  MatchResult r;
  std::optional<uint64_t> newest;  // the newest content shown so far
  for (const DecodedUnit& u : units) {
    const bool arrived_in_window = u.last_packet_ns >= from_ns && u.last_packet_ns < to_ns;
    if (u.status != DecodedUnit::Status::kRead) {
      if (!arrived_in_window) continue;
      if (u.status == DecodedUnit::Status::kUndecodable)
        ++r.undecodable;
      else
        ++r.unreadable;
      continue;
    }
    const bool drawn = u.frame_number < draw_ns.size() && draw_ns[u.frame_number] != 0;
    if (!drawn) {
      if (arrived_in_window) ++r.unknown;
      continue;
    }
    const bool repeat = newest && u.frame_number <= *newest;
    if (!repeat) newest = u.frame_number;
    const uint64_t drawn_ns = draw_ns[u.frame_number];
    if (drawn_ns < from_ns || drawn_ns >= to_ns) continue;
    if (repeat) {
      ++r.repeats;
      continue;
    }
    if (u.last_packet_ns < drawn_ns) {
      ++r.before_draw;
      continue;
    }
    r.latencies_ns.push_back(u.last_packet_ns - drawn_ns);
  }
  return r;
}

}  // namespace funkhaus::bench
