// RTSP request parser: requests as ffmpeg, GStreamer and VLC (LIVE555) send them, pipelining,
// interleaved frames, tolerance, and every limit.
#include "funkhaus/net/rtsp/rtsp_request.h"

#include <gtest/gtest.h>

#include <string>

namespace funkhaus::net {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Captured from ffmpeg 5.1 (Lavf59.27.100) and GStreamer 1.22 rtspsrc on Debian 12.
const std::string kFfmpegSetupUdp =
    "SETUP rtsp://127.0.0.1:18554/live/track0 RTSP/1.0\r\nTransport: "
    "RTP/AVP/UDP;unicast;client_port=9884-9885\r\nCSeq: 3\r\nUser-Agent: Lavf59.27.100\r\n\r\n";
const std::string kFfmpegPlay =
    "PLAY rtsp://127.0.0.1:18554/live/ RTSP/1.0\r\nRange: npt=0.000-\r\nCSeq: 4\r\nUser-Agent: "
    "Lavf59.27.100\r\nSession: 12345678\r\n\r\n";
const std::string kGstDescribe =
    "DESCRIBE rtsp://127.0.0.1:18556/live RTSP/1.0\r\nCSeq: 2\r\nUser-Agent: "
    "GStreamer/1.22.0\r\nAccept: application/sdp\r\nDate: Sun, 22 Nov 2026 18:54:58 GMT\r\n\r\n";
const std::string kGstSetupTcp =
    "SETUP rtsp://127.0.0.1:18556/live/track0 RTSP/1.0\r\nCSeq: 3\r\nUser-Agent: "
    "GStreamer/1.22.0\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nDate: Sun, 22 Nov "
    "2026 18:55:05 GMT\r\n\r\n";
// As LIVE555 (VLC) sends them.
const std::string kVlcOptions =
    "OPTIONS rtsp://127.0.0.1:8554/live RTSP/1.0\r\nCSeq: 2\r\nUser-Agent: LibVLC/3.0.18 "
    "(LIVE555 Streaming Media v2022.07.14)\r\n\r\n";
const std::string kVlcSetup =
    "SETUP rtsp://127.0.0.1:8554/live/track0 RTSP/1.0\r\nCSeq: 4\r\nUser-Agent: LibVLC/3.0.18 "
    "(LIVE555 Streaming Media v2022.07.14)\r\nTransport: "
    "RTP/AVP;unicast;client_port=56010-56011\r\n\r\n";

TEST(RtspRequest, RealClientRequests) {
  for (const std::string& text :
       {kFfmpegSetupUdp, kFfmpegPlay, kGstDescribe, kGstSetupTcp, kVlcOptions, kVlcSetup}) {
    RtspUnit u = parseRtspUnit(bytes(text));
    ASSERT_EQ(u.kind, RtspUnit::Kind::kRequest) << text << u.error;
    EXPECT_EQ(u.consumed, text.size());
    EXPECT_TRUE(u.request.cseq().has_value());
    EXPECT_EQ(u.request.version_minor, 0);
  }
  RtspUnit setup = parseRtspUnit(bytes(kFfmpegSetupUdp));
  EXPECT_EQ(setup.request.method, "SETUP");
  EXPECT_EQ(setup.request.uri, "rtsp://127.0.0.1:18554/live/track0");
  EXPECT_EQ(*setup.request.cseq(), 3u);
  ASSERT_NE(setup.request.header("transport"), nullptr) << "names are case-insensitive";
  EXPECT_EQ(*setup.request.header("TRANSPORT"), "RTP/AVP/UDP;unicast;client_port=9884-9885");
  EXPECT_EQ(*parseRtspUnit(bytes(kFfmpegPlay)).request.header("Session"), "12345678");
}

TEST(RtspRequest, PipelinedRequestsOneAtATime) {
  const std::string all = kVlcOptions + kGstDescribe + "\r\n" + kFfmpegPlay;
  size_t at = 0;
  std::vector<std::string> methods;
  while (at < all.size()) {
    RtspUnit u = parseRtspUnit(bytes(all).subspan(at));
    ASSERT_EQ(u.kind, RtspUnit::Kind::kRequest) << u.error;
    methods.push_back(u.request.method);
    at += u.consumed;
  }
  EXPECT_EQ(methods, (std::vector<std::string>{"OPTIONS", "DESCRIBE", "PLAY"}));
}

TEST(RtspRequest, IncompleteNeedsMoreAtEveryCut) {
  for (size_t cut = 0; cut < kGstSetupTcp.size(); ++cut) {
    RtspUnit u = parseRtspUnit(bytes(kGstSetupTcp.substr(0, cut)));
    EXPECT_EQ(u.kind, RtspUnit::Kind::kNeedMore) << "cut at " << cut;
  }
}

TEST(RtspRequest, BodyByContentLength) {
  const std::string r =
      "SET_PARAMETER rtsp://h/live RTSP/1.0\r\nCSeq: 9\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
  RtspUnit u = parseRtspUnit(bytes(r));
  ASSERT_EQ(u.kind, RtspUnit::Kind::kRequest);
  EXPECT_EQ(u.request.body, "hello");
  EXPECT_EQ(u.consumed, r.size() - 5);
  EXPECT_EQ(parseRtspUnit(bytes(r.substr(0, r.size() - 8))).kind, RtspUnit::Kind::kNeedMore);
}

TEST(RtspRequest, ToleratesBareLfFoldingAndWhitespace) {
  const std::string r =
      "GET_PARAMETER   rtsp://h/live\tRTSP/1.0\nCSeq:  7 \nX-Long: first\n  second\n\n";
  RtspUnit u = parseRtspUnit(bytes(r));
  ASSERT_EQ(u.kind, RtspUnit::Kind::kRequest) << u.error;
  EXPECT_EQ(*u.request.cseq(), 7u);
  EXPECT_EQ(*u.request.header("x-long"), "first second");
}

TEST(RtspRequest, InterleavedFrames) {
  std::string f = "$\x01";
  f += '\0';
  f += '\x03';
  f += "abc";
  f += kVlcOptions;
  RtspUnit u = parseRtspUnit(bytes(f));
  ASSERT_EQ(u.kind, RtspUnit::Kind::kInterleaved);
  EXPECT_EQ(u.channel, 1);
  EXPECT_EQ(std::string(u.payload.begin(), u.payload.end()), "abc");
  EXPECT_EQ(u.consumed, 7u);
  EXPECT_EQ(parseRtspUnit(bytes(f.substr(0, 6))).kind, RtspUnit::Kind::kNeedMore);
  const std::string big("$\x00\xFF\xFF", 4);
  RtspUnit skip = parseRtspUnit(bytes(big));
  ASSERT_EQ(skip.kind, RtspUnit::Kind::kSkip);
  EXPECT_EQ(skip.consumed, 4u);
  EXPECT_EQ(skip.skip, 65535u);
}

TEST(RtspRequest, Limits) {
  const RtspLimits limits;
  // Request line too long, with and without its end.
  const std::string long_uri(limits.max_request_line + 10, 'a');
  EXPECT_EQ(parseRtspUnit(bytes("OPTIONS " + long_uri)).status, 414);
  EXPECT_EQ(parseRtspUnit(bytes("OPTIONS " + long_uri + " RTSP/1.0\r\n\r\n")).status, 414);
  // Headers beyond the byte limit.
  std::string many = "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n";
  while (many.size() < limits.max_header_bytes + 10) many += "X-Pad: 0123456789abcdef\r\n";
  EXPECT_EQ(parseRtspUnit(bytes(many)).kind, RtspUnit::Kind::kBad);
  EXPECT_EQ(parseRtspUnit(bytes(many + "\r\n")).kind, RtspUnit::Kind::kBad);
  // Header count.
  std::string count = "OPTIONS * RTSP/1.0\r\n";
  for (size_t i = 0; i <= limits.max_headers; ++i) count += "A: b\r\n";
  EXPECT_EQ(parseRtspUnit(bytes(count + "\r\n")).kind, RtspUnit::Kind::kBad);
  // Body too large.
  RtspUnit body = parseRtspUnit(bytes("SET_PARAMETER * RTSP/1.0\r\nContent-Length: 99999\r\n\r\n"));
  EXPECT_EQ(body.status, 413);
  EXPECT_EQ(parseRtspUnit(bytes("X * RTSP/1.0\r\nContent-Length: -1\r\n\r\n")).status, 400);
  EXPECT_EQ(parseRtspUnit(bytes("X * RTSP/1.0\r\nContent-Length: 1x\r\n\r\n")).status, 400);
}

TEST(RtspRequest, NotRtsp) {
  EXPECT_EQ(parseRtspUnit(bytes("GET / HTTP/1.1\r\n\r\n")).status, 400);
  EXPECT_EQ(parseRtspUnit(bytes("OPTIONS * RTSP/2.0\r\n\r\n")).status, 505);
  EXPECT_EQ(parseRtspUnit(bytes("OPTIONS *\r\n\r\n")).status, 400);
  EXPECT_EQ(parseRtspUnit(bytes("OPT<IONS * RTSP/1.0\r\n\r\n")).status, 400);
  EXPECT_EQ(parseRtspUnit(bytes("OPTIONS * RTSP/1.0\r\nno colon\r\n\r\n")).status, 400);
  EXPECT_EQ(parseRtspUnit(bytes("OPTIONS * RTSP/1.0\r\n: empty\r\n\r\n")).status, 400);
  EXPECT_EQ(parseRtspUnit(bytes("OPTIONS * RTSP/1.0\r\n cont\r\n\r\n")).status, 400);
  std::string nul = "OPTIONS * RTSP/1.0\r\nA: b";
  nul += '\0';
  nul += "\r\n\r\n";
  EXPECT_EQ(parseRtspUnit(bytes(nul)).status, 400);
  // A TLS ClientHello (no newline yet) is refused at once, not after the header timeout.
  const std::string tls("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  EXPECT_EQ(parseRtspUnit(bytes(tls)).kind, RtspUnit::Kind::kBad);
  EXPECT_EQ(parseRtspUnit(bytes("OPTIONS rtsp://h/\x01")).kind, RtspUnit::Kind::kBad);
  EXPECT_EQ(parseRtspUnit(bytes("OPTIONS rtsp://h/live RTSP/1.0\r")).kind,
            RtspUnit::Kind::kNeedMore);
}

TEST(RtspRequest, CseqMustBeANumber) {
  EXPECT_FALSE(parseRtspUnit(bytes("OPTIONS * RTSP/1.0\r\nCSeq: x\r\n\r\n")).request.cseq());
  EXPECT_FALSE(parseRtspUnit(bytes("OPTIONS * RTSP/1.0\r\n\r\n")).request.cseq());
  EXPECT_FALSE(
      parseRtspUnit(bytes("OPTIONS * RTSP/1.0\r\nCSeq: 99999999999\r\n\r\n")).request.cseq());
}

}  // namespace
}  // namespace funkhaus::net
