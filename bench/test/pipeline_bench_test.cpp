// Unit tests of the pipeline benchmark's measuring parts: RTP/RTCP/RTSP parsing, the RTP clock
// mapping (against funkhaus-net's own rtpTimestamp/ntpTime/buildSenderReport), percentiles, and
// the RTP sink on real loopback sockets. Label "unit".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "funkhaus/bench/latency.h"
#include "funkhaus/bench/rtp_sink.h"
#include "funkhaus/bench/rtsp_viewer.h"
#include "funkhaus/bench/variant.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/net/rtsp/rtcp.h"
#include "funkhaus/net/rtsp/rtp_packetizer.h"

namespace funkhaus::bench {
namespace {

std::vector<uint8_t> rtpPacket(bool marker, uint16_t seq, uint32_t ts, uint32_t ssrc,
                               size_t payload) {
  std::vector<uint8_t> p(net::kRtpHeaderSize + payload, 0x5A);
  net::writeRtpHeader(p.data(), marker, net::kRtpPayloadType, seq, ts, ssrc);
  return p;
}

TEST(RtpHeader, ReadsWhatNetWrites) {
  const auto p = rtpPacket(true, 65535, 0xFEDCBA98, 0x11223344, 100);
  auto h = parseRtpHeader(p);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_TRUE(h->marker);
  EXPECT_EQ(h->payload_type, net::kRtpPayloadType);
  EXPECT_EQ(h->sequence, 65535);
  EXPECT_EQ(h->timestamp, 0xFEDCBA98u);
  EXPECT_EQ(h->ssrc, 0x11223344u);
  EXPECT_EQ(h->payload_offset, 12u);
  EXPECT_EQ(h->payload_size, 100u);
}

TEST(RtpHeader, SkipsCsrcsExtensionAndPadding) {
  // V=2 P=1 X=1 CC=1, one CSRC, a one-word extension, 3 payload bytes, 2 bytes of padding.
  const std::vector<uint8_t> p = {0xB1, 0x60, 0,    1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
                                  4,    0xBE, 0xDE, 0, 1, 1, 2, 3, 4, 7, 8, 9, 0, 2};
  auto h = parseRtpHeader(p);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->payload_offset, 24u);
  EXPECT_EQ(h->payload_size, 3u);
}

TEST(RtpHeader, RefusesWhatDoesNotFit) {
  auto p = rtpPacket(false, 1, 2, 3, 0);
  EXPECT_FALSE(parseRtpHeader(std::span<const uint8_t>(p.data(), 11)));
  p[0] = 0x40;  // version 1
  EXPECT_FALSE(parseRtpHeader(p));
  p[0] = 0x8F;  // 15 CSRCs in a 12-byte packet
  EXPECT_FALSE(parseRtpHeader(p));
  p[0] = 0x90;  // extension flag without an extension
  EXPECT_FALSE(parseRtpHeader(p));
  auto padded = rtpPacket(false, 1, 2, 3, 2);
  padded[0] = 0xA0;
  padded.back() = 9;  // more padding than payload
  EXPECT_FALSE(parseRtpHeader(padded));
  padded.back() = 0;  // padding of zero bytes
  EXPECT_FALSE(parseRtpHeader(padded));
}

TEST(SenderReport, FoundInNetsCompoundPacket) {
  net::SenderReport sr;
  sr.ssrc = 0xCAFEBABE;
  sr.ntp_time = net::ntpTime(1'700'000'123, 987'654'321);
  sr.rtp_time = 0x12345678;
  sr.cname = "host";
  uint8_t buffer[128];
  const size_t n = net::buildSenderReport(sr, buffer);
  ASSERT_GT(n, 28u);
  auto found = findSenderReport(std::span<const uint8_t>(buffer, n));
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->ssrc, sr.ssrc);
  EXPECT_EQ((*found)->ntp_time, sr.ntp_time);
  EXPECT_EQ((*found)->rtp_time, sr.rtp_time);
  // Without its last byte the compound does not add up.
  EXPECT_FALSE(findSenderReport(std::span<const uint8_t>(buffer, n - 1)));
  // A receiver report alone holds no sender report.
  const uint8_t rr[8] = {0x80, 201, 0, 1, 1, 2, 3, 4};
  auto none = findSenderReport(rr);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value());
  EXPECT_FALSE(findSenderReport({}));
}

TEST(RtpClock, TicksAreNetsRtpTimestamp) {
  std::mt19937_64 random(7);
  for (int i = 0; i < 10000; ++i) {
    const uint64_t ns = random() % (uint64_t{1} << 52);
    EXPECT_EQ(static_cast<uint32_t>(ticksOf(ns)), net::rtpTimestamp(ns, 0)) << ns;
    const uint64_t t = ticksOf(ns);
    EXPECT_EQ(ticksOf(tickStartNs(t)), t);
    EXPECT_EQ(ticksOf(tickStartNs(t) - 1), t - 1);
  }
}

// A sender report as funkhaus-net builds it, read by a sink whose clocks differ by `skew`.
SinkReport reportAt(uint64_t monotonic_ns, int64_t realtime_minus_monotonic, uint32_t offset) {
  const uint64_t real = monotonic_ns + static_cast<uint64_t>(realtime_minus_monotonic);
  SinkReport r;
  r.report.ssrc = 1;
  r.report.ntp_time = net::ntpTime(static_cast<int64_t>(real / 1'000'000'000),
                                   static_cast<int64_t>(real % 1'000'000'000));
  r.report.rtp_time = net::rtpTimestamp(monotonic_ns, offset);
  r.realtime_minus_monotonic_ns = realtime_minus_monotonic;
  return r;
}

TEST(RtpClock, SenderReportsGiveTheOffset) {
  std::mt19937_64 random(11);
  const int64_t skew = 1'700'000'000'000'000'000 - 12'345'678'901;
  for (int i = 0; i < 1000; ++i) {
    const uint32_t offset = static_cast<uint32_t>(random());
    const uint64_t mono = 1'000'000'000'000 + random() % 1'000'000'000'000'000;
    EXPECT_EQ(offsetOfReport(reportAt(mono, skew, offset)), offset);
  }
  // The majority wins over a report one tick off.
  std::vector<SinkReport> reports = {reportAt(5'000'000'000, skew, 77),
                                     reportAt(6'000'000'000, skew, 78),
                                     reportAt(7'000'000'000, skew, 77)};
  auto e = estimateOffset(reports);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 77u);
  EXPECT_EQ(e->agreeing, 2u);
  EXPECT_EQ(e->reports, 3u);
  EXPECT_EQ(e->spread_ticks, 1u);
  EXPECT_FALSE(estimateOffset({}));
}

TEST(RtpClock, TimestampMapsBackWithinHalfATick) {
  std::mt19937_64 random(13);
  // 2^32 ticks of 90 kHz are ~13.3 h: include times around a wrap of the 32-bit clock.
  const uint64_t wrap_ns = tickStartNs(uint64_t{1} << 32);
  for (int i = 0; i < 10000; ++i) {
    const uint32_t offset = static_cast<uint32_t>(random());
    const uint64_t capture =
        (i % 2 == 0 ? wrap_ns - 5'000'000'000 : 3'600'000'000'000) + random() % 10'000'000'000;
    const uint64_t arrival = capture + random() % 3'600'000'000'000;  // up to an hour later
    const uint64_t mapped = monotonicOfRtp(net::rtpTimestamp(capture, offset), offset, arrival);
    const int64_t error = static_cast<int64_t>(mapped) - static_cast<int64_t>(capture);
    EXPECT_LE(std::abs(error), 5'556) << capture;
  }
}

TEST(Percentiles, NearestRank) {
  std::vector<uint64_t> v;
  for (uint64_t i = 100; i >= 1; --i) v.push_back(i * 1'000'000);
  const Percentiles p = percentilesOf(v);
  EXPECT_EQ(p.count, 100u);
  EXPECT_DOUBLE_EQ(p.p50_ms, 50.0);
  EXPECT_DOUBLE_EQ(p.p99_ms, 99.0);
  EXPECT_DOUBLE_EQ(p.max_ms, 100.0);
  EXPECT_DOUBLE_EQ(p.mean_ms, 50.5);
  const Percentiles one = percentilesOf({3'000'000});
  EXPECT_DOUBLE_EQ(one.p50_ms, 3.0);
  EXPECT_DOUBLE_EQ(one.p99_ms, 3.0);
  EXPECT_EQ(percentilesOf({}).count, 0u);
}

TEST(Latencies, CountFramesCapturedInTheWindow) {
  const uint32_t offset = 12345;
  auto frame = [&](uint64_t capture, uint64_t latency, bool complete) {
    SinkFrame f;
    f.rtp_timestamp = net::rtpTimestamp(capture, offset);
    f.last_packet_ns = capture + latency;
    f.complete = complete;
    return f;
  };
  const uint64_t s = 1'000'000'000'000;
  const std::vector<SinkFrame> frames = {
      frame(s - 20'000'000, 5'000'000, true),   // captured before the window
      frame(s + 10'000'000, 7'000'000, true),   // in
      frame(s + 30'000'000, 9'000'000, false),  // in, a packet lost
      frame(s + 50'000'000, 6'000'000, true),   // in
      frame(s + 100'000'000, 1'000'000, true),  // at the end: out
  };
  const FrameLatencies l = latenciesOf(frames, offset, s, s + 100'000'000);
  ASSERT_EQ(l.frames.size(), 2u);
  EXPECT_EQ(l.incomplete, 1u);
  EXPECT_NEAR(static_cast<double>(l.frames[0].latency_ns), 7e6, 5'556);
  EXPECT_NEAR(static_cast<double>(l.frames[1].latency_ns), 6e6, 5'556);
}

TEST(HostConfig, IsFunkhausdsDefaultsWithTheBenchMode) {
  BenchSettings s;
  s.width = 640;
  s.height = 360;
  s.fps = 30;
  auto config = hostConfig(s);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->capture.width, 640u);
  EXPECT_EQ(config->capture.height, 360u);
  EXPECT_EQ(config->capture.fps, 30u);
  EXPECT_EQ(config->net.bind, "127.0.0.1");
  EXPECT_EQ(config->net.port, 0u);
  const supervisor::Config defaults;
  EXPECT_EQ(config->encode.encoder, defaults.encode.encoder);
  EXPECT_EQ(config->encode.preset, defaults.encode.preset);
  EXPECT_EQ(config->encode.bitrate_kbps, defaults.encode.bitrate_kbps);
  const auto argv = workerArgv("encode", *config);
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(argv[0], "funkhaus-encode");
  auto with_socket =
      supervisor::parseConfig(hostConfigToml(s, "/some/dir/control.sock"), "bench.toml");
  ASSERT_TRUE(with_socket) << with_socket.error().message;
  EXPECT_EQ(with_socket->control_socket, "/some/dir/control.sock");
}

// The sink on real loopback sockets: frames grouped by timestamp and ended by the marker, gaps,
// foreign and malformed datagrams, sender reports. The kernel stamps are printed, not asserted.
TEST(RtpSinkLoopback, GroupsFramesAndCountsWhatIsWrong) {
  auto sink = RtpSink::open();
  ASSERT_TRUE(sink) << sink.error().message;
  EXPECT_EQ((*sink)->rtpPort() % 2, 0);
  EXPECT_EQ((*sink)->rtcpPort(), (*sink)->rtpPort() + 1);
  (*sink)->expectSsrc(0xAABBCCDD);
  (*sink)->start();
  UniqueFd out(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(out.valid());
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto send = [&](const std::vector<uint8_t>& p, uint16_t port) {
    to.sin_port = htons(port);
    ASSERT_EQ(sendto(out.get(), p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(p.size()));
  };
  const uint16_t rtp = (*sink)->rtpPort();
  std::vector<uint64_t> sent_at;
  // Frame 1: three packets. Frame 2: one. Frame 3: sequence 6 skipped. Frame 4: marker lost,
  // then frame 5.
  uint16_t seq = 1;
  for (int i = 0; i < 3; ++i) send(rtpPacket(i == 2, seq++, 1000, 0xAABBCCDD, 1000), rtp);
  sent_at.push_back(monotonicNs());
  send(rtpPacket(true, seq++, 2500, 0xAABBCCDD, 10), rtp);
  sent_at.push_back(monotonicNs());
  send(rtpPacket(false, seq++, 4000, 0xAABBCCDD, 10), rtp);
  ++seq;
  send(rtpPacket(true, seq++, 4000, 0xAABBCCDD, 10), rtp);
  send(rtpPacket(false, seq++, 5500, 0xAABBCCDD, 10), rtp);
  send(rtpPacket(true, seq++, 7000, 0xAABBCCDD, 10), rtp);
  send(rtpPacket(true, seq++, 8500, 0x12345678, 10), rtp);  // another SSRC
  send({1, 2, 3}, rtp);                                     // not RTP
  net::SenderReport sr;
  sr.ssrc = 0xAABBCCDD;
  sr.rtp_time = 42;
  uint8_t buffer[128];
  const size_t n = net::buildSenderReport(sr, buffer);
  send(std::vector<uint8_t>(buffer, buffer + n), (*sink)->rtcpPort());
  sr.ssrc = 1;  // not the stream's
  send(std::vector<uint8_t>(buffer, buffer + net::buildSenderReport(sr, buffer)),
       (*sink)->rtcpPort());
  for (int i = 0; i < 500 && ((*sink)->framesSeen() < 4 || (*sink)->reportsSeen() < 1); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the datagrams after them
  (*sink)->stop();
  const auto& frames = (*sink)->frames();
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].rtp_timestamp, 1000u);
  EXPECT_EQ(frames[0].packets, 3u);
  EXPECT_EQ(frames[0].bytes, 3000u);
  EXPECT_TRUE(frames[0].complete);
  EXPECT_TRUE(frames[1].complete);
  EXPECT_EQ(frames[2].rtp_timestamp, 4000u);
  EXPECT_FALSE(frames[2].complete);
  EXPECT_EQ(frames[3].rtp_timestamp, 7000u);
  EXPECT_TRUE(frames[3].complete);
  const SinkCounters& c = (*sink)->counters();
  EXPECT_EQ(c.packets, 8u);
  EXPECT_EQ(c.sequence_gaps, 1u);
  EXPECT_EQ(c.unended, 1u);
  EXPECT_EQ(c.foreign, 1u);
  EXPECT_EQ(c.malformed, 1u);
  EXPECT_EQ(c.unstamped, 0u);
  ASSERT_EQ((*sink)->reports().size(), 1u);
  EXPECT_EQ((*sink)->reports()[0].report.rtp_time, 42u);
  for (size_t i = 0; i < 2; ++i)
    std::printf(
        "[figures] loopback frame %zu: kernel stamp %+.1f us from the sender's clock "
        "after sendto returned, read %.1f us after the stamp\n",
        i, (static_cast<double>(frames[i].last_packet_ns) - static_cast<double>(sent_at[i])) / 1e3,
        static_cast<double>(frames[i].read_ns - frames[i].last_packet_ns) / 1e3);
}

}  // namespace
}  // namespace funkhaus::bench
