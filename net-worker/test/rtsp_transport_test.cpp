// Transport, Session and URI path parsing.
#include "funkhaus/net/rtsp/rtsp_transport.h"

#include <gtest/gtest.h>

namespace funkhaus::net {
namespace {

TEST(RtspTransport, ClientsTransports) {
  auto ff = chooseTransport("RTP/AVP/UDP;unicast;client_port=9884-9885");
  ASSERT_TRUE(ff);
  EXPECT_FALSE(ff->tcp);
  EXPECT_EQ(*ff->client_rtp_port, 9884);
  EXPECT_EQ(*ff->client_rtcp_port, 9885);
  auto gst = chooseTransport("RTP/AVP;unicast;client_port=41372-41373");
  ASSERT_TRUE(gst);
  EXPECT_EQ(gst->profile, "RTP/AVP");
  auto tcp = chooseTransport("RTP/AVP/TCP;unicast;interleaved=0-1");
  ASSERT_TRUE(tcp);
  EXPECT_TRUE(tcp->tcp);
  EXPECT_EQ(*tcp->rtp_channel, 0);
  EXPECT_EQ(*tcp->rtcp_channel, 1);
  auto avpf = chooseTransport("RTP/AVPF/UDP;unicast;client_port=5000-5001");
  ASSERT_TRUE(avpf);
  EXPECT_EQ(avpf->profile, "RTP/AVPF");
}

TEST(RtspTransport, DefaultsAndAlternatives) {
  auto one_port = chooseTransport("RTP/AVP;unicast;client_port=6000");
  ASSERT_TRUE(one_port);
  EXPECT_EQ(*one_port->client_rtcp_port, 6001);
  auto no_channels = chooseTransport("RTP/AVP/TCP;unicast");
  ASSERT_TRUE(no_channels);
  EXPECT_EQ(*no_channels->rtp_channel, 0);
  EXPECT_EQ(*no_channels->rtcp_channel, 1);
  // Multicast is skipped; the next alternative wins.
  auto alt =
      chooseTransport("RTP/AVP;multicast;client_port=1-2, RTP/AVP/TCP;unicast;interleaved=4-5");
  ASSERT_TRUE(alt);
  EXPECT_TRUE(alt->tcp);
  EXPECT_EQ(*alt->rtp_channel, 4);
}

TEST(RtspTransport, Refused) {
  EXPECT_FALSE(chooseTransport(""));
  EXPECT_FALSE(chooseTransport("RAW/RAW/UDP;unicast;client_port=1-2"));
  EXPECT_FALSE(chooseTransport("RTP/SAVP;unicast;client_port=1-2"));
  EXPECT_FALSE(chooseTransport("RTP/AVP;unicast"));  // UDP without a port
  EXPECT_FALSE(chooseTransport("RTP/AVP;unicast;client_port=0-1"));
  EXPECT_FALSE(chooseTransport("RTP/AVP;unicast;client_port=70000-70001"));
  EXPECT_FALSE(chooseTransport("RTP/AVP;unicast;client_port=a-b"));
  EXPECT_FALSE(chooseTransport("RTP/AVP/TCP;unicast;interleaved=300-301"));
  EXPECT_FALSE(chooseTransport("RTP/AVP/SCTP;unicast;client_port=1-2"));
  EXPECT_FALSE(chooseTransport("RTP/AVP;unicast;client_port=65535")) << "RTCP would be port 0";
}

TEST(RtspTransport, DestinationIsIgnored) {
  auto t = chooseTransport("RTP/AVP;unicast;destination=10.0.0.9;client_port=5000-5001");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t->client_rtp_port, 5000);
}

TEST(RtspTransport, UriPaths) {
  EXPECT_EQ(uriPath("rtsp://127.0.0.1:8554/live"), "/live");
  EXPECT_EQ(uriPath("RTSP://host/live/track0?x=1"), "/live/track0");
  EXPECT_EQ(uriPath("rtsp://[::1]:8554/live/"), "/live/");
  EXPECT_EQ(uriPath("rtsp://host"), "/");
  EXPECT_EQ(uriPath("/live"), "/live");
  EXPECT_EQ(uriPath("*"), "*");
  EXPECT_EQ(uriPath("http://host/live"), "");
  EXPECT_EQ(uriPath(""), "");
}

TEST(RtspTransport, ModeRequestsInTheUri) {
  using M = ModeRequest;
  EXPECT_EQ(uriModeRequest("rtsp://h:8554/live?mode=1280x720"), (M{1280, 720, 0}));
  EXPECT_EQ(uriModeRequest("rtsp://h/live?a=1&mode=1920X1080@144&b"), (M{1920, 1080, 144}));
  EXPECT_EQ(uriModeRequest("rtsp://h/live"), std::nullopt);
  EXPECT_EQ(uriModeRequest("rtsp://h/live?mode="), std::nullopt);
  EXPECT_EQ(uriModeRequest("rtsp://h/live?mode=1280"), std::nullopt);
  EXPECT_EQ(uriModeRequest("rtsp://h/live?mode=1280x"), std::nullopt);
  EXPECT_EQ(uriModeRequest("rtsp://h/live?mode=0x720"), std::nullopt);
  EXPECT_EQ(uriModeRequest("rtsp://h/live?mode=99999x720"), std::nullopt);
  EXPECT_EQ(uriModeRequest("rtsp://h/live?mode=1280x720@"), std::nullopt);
  EXPECT_EQ(uriModeRequest("rtsp://h/live?mode=1280x720@60fps"), std::nullopt);
  EXPECT_EQ(uriModeRequest("rtsp://h/live?mode=-1x720"), std::nullopt);
}

TEST(RtspTransport, SessionIds) {
  EXPECT_EQ(parseSessionId("0123456789abcdef;timeout=60"), 0x0123456789abcdefull);
  EXPECT_EQ(parseSessionId(" 12345678 "), 0x12345678u);
  EXPECT_FALSE(parseSessionId(""));
  EXPECT_FALSE(parseSessionId("xyz"));
  EXPECT_FALSE(parseSessionId("0123456789abcdef0"));
  EXPECT_EQ(formatSessionId(0xabc), "0000000000000abc");
}

}  // namespace
}  // namespace funkhaus::net
