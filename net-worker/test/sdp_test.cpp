// SDP for H.264 and HEVC, the Opus audio section; base64 (RFC 4648 vectors); profile-level-id.
#include "funkhaus/net/rtsp/sdp.h"

#include <gtest/gtest.h>

#include <string>

namespace funkhaus::net {
namespace {

std::vector<uint8_t> bytesOf(const std::string& s) { return {s.begin(), s.end()}; }

TEST(Sdp, Base64Rfc4648Vectors) {
  EXPECT_EQ(base64Encode(bytesOf("")), "");
  EXPECT_EQ(base64Encode(bytesOf("f")), "Zg==");
  EXPECT_EQ(base64Encode(bytesOf("fo")), "Zm8=");
  EXPECT_EQ(base64Encode(bytesOf("foo")), "Zm9v");
  EXPECT_EQ(base64Encode(bytesOf("foob")), "Zm9vYg==");
  EXPECT_EQ(base64Encode(bytesOf("fooba")), "Zm9vYmE=");
  EXPECT_EQ(base64Encode(bytesOf("foobar")), "Zm9vYmFy");
}

TEST(Sdp, H264WithParameterSets) {
  ParameterSets sets;
  sets.codec = Codec::kH264;
  sets.sps = {0x67, 0x42, 0xC0, 0x0D, 0xDA};
  sets.pps = {0x68, 0xCE, 0x3C, 0x80};
  SdpOptions o;
  o.session_id = 77;
  o.origin_address = "127.0.0.1";
  const std::string sdp = buildSdp(sets, o);
  EXPECT_NE(sdp.find("v=0\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("o=- 77 1 IN IP4 127.0.0.1\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("m=video 0 RTP/AVP 96\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("a=rtpmap:96 H264/90000\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("a=fmtp:96 packetization-mode=1;profile-level-id=42c00d;"
                     "sprop-parameter-sets=Z0LADdo=,aM48gA==\r\n"),
            std::string::npos)
      << sdp;
  EXPECT_NE(sdp.find("a=rtcp-fb:96 nack pli\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("a=rtcp-fb:96 ccm fir\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("a=control:track0\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("a=control:*\r\n"), std::string::npos);
  // Every line ends with CRLF and nothing is left over.
  EXPECT_EQ(sdp.substr(sdp.size() - 2), "\r\n");
}

TEST(Sdp, H264WithoutParameterSets) {
  ParameterSets sets;
  SdpOptions o;
  o.origin_address = "::1";
  o.origin_ipv6 = true;
  const std::string sdp = buildSdp(sets, o);
  EXPECT_NE(sdp.find("a=fmtp:96 packetization-mode=1\r\n"), std::string::npos) << sdp;
  EXPECT_NE(sdp.find("IN IP6 ::1"), std::string::npos);
  EXPECT_EQ(sdp.find("sprop"), std::string::npos);
}

TEST(Sdp, Hevc) {
  ParameterSets sets;
  sets.codec = Codec::kHevc;
  sets.vps = {0x40, 0x01, 0x0C};
  sets.sps = {0x42, 0x01, 0x01};
  sets.pps = {0x44, 0x01, 0xC1};
  SdpOptions o;
  o.origin_address = "10.0.0.1";
  const std::string sdp = buildSdp(sets, o);
  EXPECT_NE(sdp.find("a=rtpmap:96 H265/90000\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("a=fmtp:96 sprop-vps=QAEM;sprop-sps=QgEB;sprop-pps=RAHB\r\n"),
            std::string::npos)
      << sdp;
}

TEST(Sdp, AudioSectionOnlyWhenAsked) {
  ParameterSets sets;
  sets.codec = Codec::kH264;
  SdpOptions o;
  o.origin_address = "127.0.0.1";
  EXPECT_EQ(buildSdp(sets, o).find("m=audio"), std::string::npos);
  o.audio = true;
  const std::string sdp = buildSdp(sets, o);
  // After the video section (its control line first), RFC 7587's fixed clock and channels.
  const size_t video = sdp.find("a=control:track0\r\n");
  const size_t audio = sdp.find("m=audio 0 RTP/AVP 97\r\n");
  ASSERT_NE(video, std::string::npos);
  ASSERT_NE(audio, std::string::npos);
  EXPECT_LT(video, audio);
  EXPECT_NE(sdp.find("a=rtpmap:97 opus/48000/2\r\n", audio), std::string::npos) << sdp;
  EXPECT_NE(sdp.find("a=fmtp:97 sprop-stereo=1\r\n", audio), std::string::npos);
  EXPECT_NE(sdp.find("a=control:track1\r\n", audio), std::string::npos);
}

TEST(Sdp, ProfileLevelId) {
  EXPECT_EQ(profileLevelId(std::vector<uint8_t>{0x67, 0x64, 0x00, 0x28}), "640028");
  EXPECT_EQ(profileLevelId(std::vector<uint8_t>{0x67, 0x64}), "");
}

}  // namespace
}  // namespace funkhaus::net
