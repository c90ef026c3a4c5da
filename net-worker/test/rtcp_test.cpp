// RTCP: sender report build (round trip through the parser), receiver reports, PLI, FIR, NACK,
// BYE, and refusal of malformed datagrams.
#include "funkhaus/net/rtsp/rtcp.h"

#include <gtest/gtest.h>

#include <vector>

namespace funkhaus::net {
namespace {

void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 3; i >= 0; --i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

std::vector<uint8_t> receiverReport(uint32_t reporter, uint32_t source, uint8_t fraction,
                                    int32_t lost, uint32_t highest, uint32_t jitter) {
  std::vector<uint8_t> v = {0x81, 201, 0, 7};
  put32(v, reporter);
  put32(v, source);
  v.push_back(fraction);
  const auto l = static_cast<uint32_t>(lost);
  v.push_back(static_cast<uint8_t>(l >> 16));
  v.push_back(static_cast<uint8_t>(l >> 8));
  v.push_back(static_cast<uint8_t>(l));
  put32(v, highest);
  put32(v, jitter);
  put32(v, 0x11223344);  // LSR
  put32(v, 0x55);        // DLSR
  return v;
}

std::vector<uint8_t> pli(uint32_t sender, uint32_t media) {
  std::vector<uint8_t> v = {0x81, 206, 0, 2};
  put32(v, sender);
  put32(v, media);
  return v;
}

std::vector<uint8_t> fir(uint32_t sender, std::vector<uint32_t> targets) {
  std::vector<uint8_t> v = {0x84, 206, 0, static_cast<uint8_t>(2 + 2 * targets.size())};
  put32(v, sender);
  put32(v, 0);  // media source SSRC is 0 in a FIR
  for (uint32_t t : targets) {
    put32(v, t);
    put32(v, 0x07000000);  // seq nr 7, reserved
  }
  return v;
}

TEST(Rtcp, SenderReportRoundTrip) {
  SenderReport sr;
  sr.ssrc = 0xDEADBEEF;
  sr.ntp_time = 0x0123456789ABCDEFull;
  sr.rtp_time = 90000;
  sr.packet_count = 42;
  sr.octet_count = 4242;
  sr.cname = "funkhaus@host";
  uint8_t buf[256];
  const size_t n = buildSenderReport(sr, buf);
  ASSERT_GT(n, 28u);
  EXPECT_EQ(n % 4, 0u);
  EXPECT_EQ(buf[0], 0x80);
  EXPECT_EQ(buf[1], 200);
  EXPECT_EQ(buf[8], 0x01);  // NTP MSW first byte
  EXPECT_EQ(buf[28 + 1], 202) << "SDES follows the SR in the compound";
  EXPECT_EQ(buf[28 + 8], 1) << "CNAME item";
  EXPECT_EQ(buf[28 + 9], sr.cname.size());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf) + 28 + 10, sr.cname.size()), sr.cname);
  auto info = parseRtcp(std::span<const uint8_t>(buf, n));
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->packets, 2u);
  EXPECT_EQ(buildSenderReport(sr, std::span<uint8_t>(buf, 20)), 0u) << "too small a buffer";
}

TEST(Rtcp, NtpTimeOfRealtime) {
  EXPECT_EQ(ntpTime(0, 0) >> 32, 2'208'988'800u);
  EXPECT_EQ(ntpTime(0, 500'000'000) & 0xFFFFFFFF, 0x80000000u);
}

TEST(Rtcp, ReceiverReportFields) {
  auto rr = receiverReport(0x1111, 0x2222, 25, -3, 0x0001FFFF, 77);
  auto info = parseRtcp(rr);
  ASSERT_TRUE(info.ok()) << info.error().message;
  ASSERT_EQ(info->reports.size(), 1u);
  const ReportBlock& b = info->reports[0];
  EXPECT_EQ(b.reporter_ssrc, 0x1111u);
  EXPECT_EQ(b.source_ssrc, 0x2222u);
  EXPECT_EQ(b.fraction_lost, 25);
  EXPECT_EQ(b.cumulative_lost, -3) << "24-bit two's complement";
  EXPECT_EQ(b.highest_sequence, 0x0001FFFFu);
  EXPECT_EQ(b.jitter, 77u);
  EXPECT_EQ(b.last_sr, 0x11223344u);
}

TEST(Rtcp, CompoundWithPliFirNackAndBye) {
  auto d = receiverReport(1, 2, 0, 0, 100, 0);
  auto p = pli(1, 2);
  auto f = fir(1, {2, 3});
  std::vector<uint8_t> nack = {0x81, 205, 0, 3};
  put32(nack, 1);
  put32(nack, 2);
  put32(nack, 0x00640001);  // PID 100, BLP 1
  std::vector<uint8_t> bye = {0x81, 203, 0, 1};
  put32(bye, 1);
  for (auto* part : {&p, &f, &nack, &bye}) d.insert(d.end(), part->begin(), part->end());
  auto info = parseRtcp(d);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->packets, 5u);
  ASSERT_EQ(info->keyframe_requests.size(), 3u);
  EXPECT_EQ(info->keyframe_requests[0].kind, KeyframeRequestKind::kPli);
  EXPECT_EQ(info->keyframe_requests[0].media_ssrc, 2u);
  EXPECT_EQ(info->keyframe_requests[1].kind, KeyframeRequestKind::kFir);
  EXPECT_EQ(info->keyframe_requests[1].media_ssrc, 2u) << "FIR targets come from the FCI";
  EXPECT_EQ(info->keyframe_requests[2].media_ssrc, 3u);
  EXPECT_EQ(info->nacks, 1u);
  ASSERT_EQ(info->byes.size(), 1u);
  EXPECT_EQ(info->byes[0], 1u);
}

TEST(Rtcp, ReducedSizePliAlone) {
  auto info = parseRtcp(pli(5, 6));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->keyframe_requests.size(), 1u);
}

TEST(Rtcp, PaddingIsHonoured) {
  std::vector<uint8_t> d = {0xA1, 206, 0, 3};  // P bit, PLI with 4 bytes of padding
  put32(d, 1);
  put32(d, 2);
  d.insert(d.end(), {0, 0, 0, 4});
  auto info = parseRtcp(d);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->keyframe_requests.size(), 1u);
}

TEST(Rtcp, RefusesMalformed) {
  EXPECT_FALSE(parseRtcp({}).ok());
  auto rr = receiverReport(1, 2, 0, 0, 0, 0);
  auto bad_version = rr;
  bad_version[0] = 0x41;
  EXPECT_FALSE(parseRtcp(bad_version).ok());
  auto too_long = rr;
  too_long[3] = 8;  // claims one more word than there is
  EXPECT_FALSE(parseRtcp(too_long).ok());
  auto truncated = rr;
  truncated.resize(30);
  EXPECT_FALSE(parseRtcp(truncated).ok());
  auto count_lies = rr;
  count_lies[0] = 0x82;  // two report blocks in the space of one
  EXPECT_FALSE(parseRtcp(count_lies).ok());
  auto trailing = rr;
  trailing.push_back(0x80);
  EXPECT_FALSE(parseRtcp(trailing).ok());
  std::vector<uint8_t> bad_pad = {0xA1, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0xFF};
  EXPECT_FALSE(parseRtcp(bad_pad).ok());
  std::vector<uint8_t> fir_odd = {0x84, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
  EXPECT_FALSE(parseRtcp(fir_odd).ok()) << "FIR FCI entries are 8 bytes";
  std::vector<uint8_t> short_fb = {0x81, 206, 0, 1, 0, 0, 0, 1};
  EXPECT_FALSE(parseRtcp(short_fb).ok());
}

TEST(Rtcp, UnknownTypesAreSkipped) {
  std::vector<uint8_t> app = {0x80, 204, 0, 2, 0, 0, 0, 1, 'n', 'a', 'm', 'e'};
  auto p = pli(1, 2);
  app.insert(app.end(), p.begin(), p.end());
  auto info = parseRtcp(app);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->packets, 2u);
  EXPECT_EQ(info->keyframe_requests.size(), 1u);
}

}  // namespace
}  // namespace funkhaus::net
