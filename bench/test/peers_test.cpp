// --peers: the RTP H.264 depacketizer (single NAL, STAP-A, FU-A; loss drops the unit) and the
// matching of decoded barcodes to draw times.
#include <gtest/gtest.h>

#include <vector>

#include "funkhaus/bench/peers.h"
#include "funkhaus/common/media/nal.h"
#include "funkhaus/net/rtsp/rtp_packetizer.h"

namespace funkhaus::bench {
namespace {

struct Packet {
  std::vector<uint8_t> bytes;
  RtpHeader header;
};

Packet rtp(uint16_t seq, uint32_t ts, bool marker, std::vector<uint8_t> payload) {
  Packet p;
  p.bytes.resize(net::kRtpHeaderSize);
  net::writeRtpHeader(p.bytes.data(), marker, 96, seq, ts, 0x11223344);
  p.bytes.insert(p.bytes.end(), payload.begin(), payload.end());
  auto h = parseRtpHeader(p.bytes);
  EXPECT_TRUE(h);
  p.header = *h;
  return p;
}

std::optional<AccessUnit> push(H264Depacketizer& d, const Packet& p, uint64_t stamp = 0) {
  return d.push(p.header, p.bytes, stamp);
}

std::vector<uint8_t> annexb(std::initializer_list<std::vector<uint8_t>> nals) {
  std::vector<uint8_t> out;
  for (const auto& n : nals) {
    out.insert(out.end(), {0, 0, 0, 1});
    out.insert(out.end(), n.begin(), n.end());
  }
  return out;
}

const std::vector<uint8_t> kSps = {0x67, 0x42, 0x00, 0x1f};
const std::vector<uint8_t> kPps = {0x68, 0xce, 0x3c, 0x80};
const std::vector<uint8_t> kSlice = {0x65, 0x88, 0x84, 0x00, 0x33, 0x44, 0x55, 0x66, 0x77};

TEST(Depacketizer, SingleNalStapAAndFuA) {
  H264Depacketizer d;
  // STAP-A (SPS + PPS), then the slice in three FU-A fragments, marker on the last.
  std::vector<uint8_t> stap = {0x78, 0, static_cast<uint8_t>(kSps.size())};
  stap.insert(stap.end(), kSps.begin(), kSps.end());
  stap.insert(stap.end(), {0, static_cast<uint8_t>(kPps.size())});
  stap.insert(stap.end(), kPps.begin(), kPps.end());
  EXPECT_FALSE(push(d, rtp(10, 900, false, stap)));
  EXPECT_FALSE(push(d, rtp(11, 900, false, {0x7c, 0x85, 0x88, 0x84, 0x00})));
  EXPECT_FALSE(push(d, rtp(12, 900, false, {0x7c, 0x05, 0x33, 0x44})));
  auto unit = push(d, rtp(13, 900, true, {0x7c, 0x45, 0x55, 0x66, 0x77}), 1234);
  ASSERT_TRUE(unit);
  EXPECT_EQ(unit->annexb, annexb({kSps, kPps, kSlice}));
  EXPECT_EQ(unit->last_packet_ns, 1234u);
  EXPECT_EQ(unit->rtp_timestamp, 900u);
  EXPECT_EQ(unit->packets, 4u);
  // A single NAL unit packet with the marker is a unit of its own.
  auto single = push(d, rtp(14, 1800, true, kSlice));
  ASSERT_TRUE(single);
  EXPECT_EQ(single->annexb, annexb({kSlice}));
  EXPECT_EQ(d.counters().frames, 2u);
  EXPECT_EQ(d.counters().dropped_frames, 0u);
}

TEST(Depacketizer, RoundTripsFunkhausNetsPacketizer) {
  // What funkhaus-net sends (FU-A for large units) comes back byte for byte.
  std::vector<uint8_t> big(5000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7 + 1);
  big[0] = 0x65;
  const std::vector<uint8_t> au = annexb({kSps, kPps, big});
  std::vector<media::NalUnit> nals;
  media::splitAnnexB(au, nals);
  std::vector<net::RtpFragment> fragments;
  ASSERT_TRUE(net::packetize(media::Codec::kH264, nals, 1200, fragments));
  ASSERT_GT(fragments.size(), 4u);
  H264Depacketizer d;
  std::optional<AccessUnit> out;
  uint16_t seq = 65530;  // wraps
  for (const net::RtpFragment& f : fragments) {
    std::vector<uint8_t> payload(f.prefix.begin(), f.prefix.begin() + f.prefix_size);
    payload.insert(payload.end(), f.data.begin(), f.data.end());
    out = push(d, rtp(seq++, 3000, f.marker, payload));
  }
  ASSERT_TRUE(out);
  EXPECT_EQ(out->annexb, au);
}

TEST(Depacketizer, LossDropsTheUnit) {
  H264Depacketizer d;
  // A middle FU-A fragment lost: the unit is dropped, the next one comes through.
  EXPECT_FALSE(push(d, rtp(1, 100, false, {0x7c, 0x85, 1, 2})));
  EXPECT_FALSE(push(d, rtp(3, 100, true, {0x7c, 0x45, 5, 6})));
  EXPECT_EQ(d.counters().dropped_frames, 1u);
  EXPECT_TRUE(push(d, rtp(4, 200, true, kSlice)));
  // The marker packet lost: the next timestamp ends the broken unit, and the unit after the gap
  // is dropped too (the gap may have taken its head).
  EXPECT_FALSE(push(d, rtp(5, 300, false, kSlice)));
  EXPECT_FALSE(push(d, rtp(7, 400, true, kSlice)));
  EXPECT_EQ(d.counters().dropped_frames, 3u);
  EXPECT_TRUE(push(d, rtp(8, 500, true, kSlice)));
  // An FU-A without its start, and one whose end never came before the marker.
  EXPECT_FALSE(push(d, rtp(9, 600, true, {0x7c, 0x05, 1})));
  EXPECT_FALSE(push(d, rtp(10, 700, false, {0x7c, 0x85, 1})));
  EXPECT_FALSE(push(d, rtp(11, 700, true, kSlice)));
  // Truncated STAP-A, FU-B, and NAL type 0.
  EXPECT_FALSE(push(d, rtp(12, 800, true, {0x78, 0, 9, 0x67})));
  EXPECT_FALSE(push(d, rtp(13, 900, true, {0x7d, 0x85, 0, 1, 2})));
  EXPECT_FALSE(push(d, rtp(14, 1000, true, {0x00, 1})));
  EXPECT_EQ(d.counters().dropped_frames, 8u);
  EXPECT_EQ(d.counters().frames, 2u);
  EXPECT_TRUE(push(d, rtp(15, 1100, true, kSlice)));
}

DecodedUnit read(uint64_t at, uint64_t frame) { return {at, DecodedUnit::Status::kRead, frame}; }

TEST(MatchUnits, FirstShowingOfEachDrawCounts) {
  // Frames 1..5 drawn at 1000, 2000, ... ns.
  const std::vector<uint64_t> draws = {0, 1000, 2000, 3000, 4000, 5000};
  const std::vector<DecodedUnit> units = {
      read(1500, 1),                                 // before the window (drawn at 1000)
      read(2600, 2),                                 // 600
      read(2700, 2),                                 // repeat of 2
      read(4100, 4),                                 // 100 (3 never shown)
      read(4200, 3),                                 // older content than 4: repeat
      {4300, DecodedUnit::Status::kUnreadable, 0},   //
      {4400, DecodedUnit::Status::kUndecodable, 0},  //
      read(4500, 99),                                // never drawn
      read(6000, 5),                                 // 1000
  };
  const MatchResult m = matchUnits(units, draws, 2000, 6000);
  EXPECT_EQ(m.latencies_ns, (std::vector<uint64_t>{600, 100, 1000}));
  EXPECT_EQ(m.repeats, 2u);
  EXPECT_EQ(m.unreadable, 1u);
  EXPECT_EQ(m.undecodable, 1u);
  EXPECT_EQ(m.unknown, 1u);
  EXPECT_EQ(m.before_draw, 0u);
  // A unit stamped before the draw it shows is reported, not counted.
  const std::vector<DecodedUnit> early = {read(2500, 3)};
  const MatchResult e = matchUnits(early, draws, 0, 10000);
  EXPECT_TRUE(e.latencies_ns.empty());
  EXPECT_EQ(e.before_draw, 1u);
}

}  // namespace
}  // namespace funkhaus::bench
