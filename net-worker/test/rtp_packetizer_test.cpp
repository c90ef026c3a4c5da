// RTP packetizer: single NAL units, H.264 FU-A and HEVC FU boundaries, marker, headers,
// timestamps, sequence wrap; and the cost of packetizing a real 1080p access unit.
#include "funkhaus/net/rtsp/rtp_packetizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

#include "net_harness.h"

namespace funkhaus::net {
namespace {

std::vector<uint8_t> nalOf(uint8_t header, size_t size) {
  std::vector<uint8_t> n(size);
  std::iota(n.begin(), n.end(), uint8_t{0});
  n[0] = header;
  return n;
}

// Reassembles H.264 FU-A fragments (and passes single units through).
std::vector<std::vector<uint8_t>> depacketizeH264(const std::vector<RtpFragment>& fragments) {
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> fu;
  for (const auto& f : fragments) {
    if (f.prefix_size == 0) {
      out.emplace_back(f.data.begin(), f.data.end());
      continue;
    }
    EXPECT_EQ(f.prefix_size, 2);
    EXPECT_EQ(f.prefix[0] & 0x1F, 28) << "FU-A indicator type";
    const bool start = f.prefix[1] & 0x80, end = f.prefix[1] & 0x40;
    EXPECT_EQ(f.prefix[1] & 0x20, 0) << "reserved bit";
    if (start) {
      EXPECT_TRUE(fu.empty());
      fu = {static_cast<uint8_t>((f.prefix[0] & 0xE0) | (f.prefix[1] & 0x1F))};
    }
    fu.insert(fu.end(), f.data.begin(), f.data.end());
    if (end) out.push_back(std::move(fu)), fu.clear();
  }
  EXPECT_TRUE(fu.empty()) << "unfinished fragmentation unit";
  return out;
}

TEST(RtpPacketizer, SmallUnitsGoWholeAndTheLastCarriesTheMarker) {
  const auto sps = nalOf(0x67, 10), pps = nalOf(0x68, 4), idr = nalOf(0x65, 1400);
  std::vector<NalUnit> nals = {sps, pps, idr};
  std::vector<RtpFragment> out;
  ASSERT_TRUE(packetize(Codec::kH264, nals, 1400, out).ok());
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i].prefix_size, 0);
    EXPECT_EQ(out[i].marker, i == 2);
  }
  EXPECT_EQ(out[2].payloadSize(), 1400u) << "exactly the budget still fits";
}

TEST(RtpPacketizer, H264FuABoundaries) {
  const size_t mtu = 100;
  // Body of 98 bytes per fragment: a NAL of 1 + 98*3 bytes splits into exactly 3.
  for (size_t size : {size_t{101}, size_t{1} + 98 * 3, size_t{1} + 98 * 3 + 1, size_t{5000}}) {
    const auto nal = nalOf(0x65 | 0x60, size);  // NRI bits must be carried into the indicator
    std::vector<NalUnit> nals = {nal};
    std::vector<RtpFragment> out;
    ASSERT_TRUE(packetize(Codec::kH264, nals, mtu, out).ok());
    const size_t expected = (size - 1 + 97) / 98;
    EXPECT_EQ(out.size(), expected) << size;
    for (size_t i = 0; i < out.size(); ++i) {
      EXPECT_LE(out[i].payloadSize(), mtu);
      EXPECT_EQ((out[i].prefix[1] & 0x80) != 0, i == 0) << "start bit only on the first";
      EXPECT_EQ((out[i].prefix[1] & 0x40) != 0, i + 1 == out.size()) << "end bit only on the last";
      EXPECT_EQ(out[i].prefix[0] & 0xE0, 0x60) << "F and NRI from the NAL header";
      EXPECT_EQ(out[i].marker, i + 1 == out.size());
    }
    const auto back = depacketizeH264(out);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0], nal);
  }
}

TEST(RtpPacketizer, HevcFuBoundaries) {
  const size_t mtu = 64;
  // HEVC NAL header: 2 bytes; type 19 (IDR_W_RADL), layer 0, TID 1.
  auto nal = nalOf(19 << 1, 500);
  nal[1] = 0x01;
  std::vector<NalUnit> nals = {nal};
  std::vector<RtpFragment> out;
  ASSERT_TRUE(packetize(Codec::kHevc, nals, mtu, out).ok());
  const size_t body = 500 - 2, chunk = mtu - 3;
  ASSERT_EQ(out.size(), (body + chunk - 1) / chunk);
  std::vector<uint8_t> rebuilt;
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& f = out[i];
    ASSERT_EQ(f.prefix_size, 3);
    EXPECT_LE(f.payloadSize(), mtu);
    EXPECT_EQ((f.prefix[0] >> 1) & 0x3F, 49) << "payload header type FU";
    EXPECT_EQ(f.prefix[1], 0x01) << "layer id / TID copied";
    EXPECT_EQ(f.prefix[2] & 0x3F, 19) << "FU header carries the NAL type";
    EXPECT_EQ((f.prefix[2] & 0x80) != 0, i == 0);
    EXPECT_EQ((f.prefix[2] & 0x40) != 0, i + 1 == out.size());
    if (i == 0) rebuilt = {static_cast<uint8_t>((f.prefix[0] & 0x81) | (19 << 1)), f.prefix[1]};
    rebuilt.insert(rebuilt.end(), f.data.begin(), f.data.end());
  }
  EXPECT_EQ(rebuilt, nal);
  EXPECT_TRUE(out.back().marker);
}

TEST(RtpPacketizer, DropsDelimitersAndRefusesBadInput) {
  const auto aud = nalOf(0x09, 2), idr = nalOf(0x65, 10);
  std::vector<NalUnit> nals = {aud, idr};
  std::vector<RtpFragment> out;
  ASSERT_TRUE(packetize(Codec::kH264, nals, 1400, out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data[0], 0x65);
  EXPECT_FALSE(packetize(Codec::kH264, nals, kMinMtu - 1, out).ok());
  EXPECT_FALSE(packetize(Codec::kH264, nals, kMaxMtu + 1, out).ok());
  const uint8_t one[] = {0x40};
  std::vector<NalUnit> short_hevc = {NalUnit(one, 1)};
  EXPECT_FALSE(packetize(Codec::kHevc, short_hevc, 1400, out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(RtpPacketizer, HeaderBytesAndMarker) {
  uint8_t h[12];
  writeRtpHeader(h, true, 96, 0xFFFF, 0x01020304, 0xA1B2C3D4);
  const uint8_t expected[12] = {0x80, 0x80 | 96, 0xFF, 0xFF, 1, 2, 3, 4, 0xA1, 0xB2, 0xC3, 0xD4};
  EXPECT_EQ(std::vector<uint8_t>(h, h + 12), std::vector<uint8_t>(expected, expected + 12));
  // Without the marker its bit is clear. (The sequence wrap of a served stream is tested with
  // the server: NetServerTest.AdoptsAViewerAndItsSequenceWraps.)
  writeRtpHeader(h, false, 96, 0, 0, 0);
  EXPECT_EQ(h[1], 96);
  EXPECT_EQ(h[2], 0);
  EXPECT_EQ(h[3], 0);
}

TEST(RtpPacketizer, TimestampsAre90kHzOfCaptureTimePlusOffset) {
  EXPECT_EQ(rtpTimestamp(0, 0), 0u);
  EXPECT_EQ(rtpTimestamp(1'000'000'000, 0), 90'000u);
  EXPECT_EQ(rtpTimestamp(33'333'333, 0), 2999u);  // floor(33.333333 ms * 90 kHz)
  EXPECT_EQ(rtpTimestamp(1'000'000'000, 0xFFFFFFFFu), 89'999u) << "offset wraps mod 2^32";
  // Far into the uptime (400 days) the product must not overflow: 100 ms is still 9000 ticks.
  const uint64_t late = 400ull * 86400 * 1'000'000'000;
  EXPECT_EQ(rtpTimestamp(late + 100'000'000, 7) - rtpTimestamp(late, 7), 9000u);
}

TEST(RtpPacketizerFigures, PacketizeCostOf1080pAccessUnits) {
  auto frames = test::encodeH264Frames(1920, 1080, 10);
  if (frames.empty()) GTEST_SKIP() << "libx264 not available in libavcodec";
  std::vector<NalUnit> nals;
  std::vector<RtpFragment> out;
  for (size_t which : {size_t{0}, size_t{5}}) {
    const auto& au = frames[which];
    constexpr int kRounds = 2000;
    size_t packets = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRounds; ++i) {
      media::splitAnnexB(au, nals);
      ASSERT_TRUE(packetize(Codec::kH264, nals, 1400, out).ok());
      packets = out.size();
    }
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count() /
        kRounds;
    std::printf("[figures] packetize 1080p %s AU of %zu bytes into %zu RTP packets: %lld ns\n",
                which == 0 ? "IDR" : "P", au.size(), packets, static_cast<long long>(ns));
  }
}

}  // namespace
}  // namespace funkhaus::net
