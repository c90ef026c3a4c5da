// parseAnnounce: Moonlight's ANNOUNCE body into StreamParams; missing, garbled, repeated and
// out-of-range attributes refused with the attribute named; the size bounds.
#include <gtest/gtest.h>

#include <string>

#include "funkhaus/net/gamestream/announce.h"
#include "handshake_test_data.h"

namespace funkhaus::net::gamestream {
namespace {

using testing::AnnounceBody;

// The error of a body that must be refused; it must name `attribute`.
std::string refusal(const AnnounceBody& body, const std::string& attribute) {
  Result<StreamParams> r = parseAnnounce(body.text());
  EXPECT_FALSE(r.ok()) << "accepted: " << attribute;
  if (r.ok()) return "";
  EXPECT_NE(r.error().message.find(attribute), std::string::npos) << r.error().message;
  return r.error().message;
}

TEST(GsAnnounce, MoonlightBody) {
  Result<StreamParams> r = parseAnnounce(AnnounceBody().text());
  ASSERT_TRUE(r.ok()) << r.error().message;
  StreamParams expected;
  expected.width = 1920;
  expected.height = 1080;
  expected.fps = 60;
  expected.packet_size = 1392;
  expected.video_format = VideoFormat::kH264;
  expected.bitrate_kbps = 20000;
  expected.bitrate_configured = true;
  expected.hdr = false;
  expected.yuv444 = false;
  expected.colour_space = CscColourSpace::kBt709;
  expected.full_range = false;
  expected.max_reference_frames = 1;
  expected.slices_per_frame = 1;
  expected.refresh_rate_x100 = 5994;
  expected.min_fec_packets = 2;
  expected.video_qos_traffic_type = 5;
  expected.audio_channels = 2;
  expected.audio_channel_mask = 3;
  expected.audio_high_quality = false;
  expected.audio_packet_duration_ms = 5;
  expected.audio_qos_traffic_type = 4;
  expected.nv_feature_flags = 167;
  expected.encryption_enabled = 1;
  expected.reliable_udp = 13;
  expected.ml_feature_flags = kMlFeatureFecStatus | kMlFeatureSessionIdV1;
  EXPECT_EQ(*r, expected);
  EXPECT_TRUE(r->audioEncrypted());
  EXPECT_FALSE(r->videoEncrypted());
  EXPECT_EQ(abiCodec(r->video_format), abi::Codec::kH264);
}

TEST(GsAnnounce, LfLinesAndNoTrailingSpaceReadTheSame) {
  const Result<StreamParams> crlf = parseAnnounce(AnnounceBody().text());
  const Result<StreamParams> lf = parseAnnounce(AnnounceBody().text("\n"));
  ASSERT_TRUE(crlf.ok() && lf.ok());
  EXPECT_EQ(*crlf, *lf);
  std::string bare = AnnounceBody().text();
  for (size_t at; (at = bare.find(" \r\n")) != std::string::npos;) bare.erase(at, 1);
  const Result<StreamParams> trimmed = parseAnnounce(bare);
  ASSERT_TRUE(trimmed.ok()) << trimmed.error().message;
  EXPECT_EQ(*trimmed, *crlf);
  // No line end after the last line.
  const Result<StreamParams> unterminated = parseAnnounce(
      "a=x-nv-video[0].clientViewportWd:1280\na=x-nv-video[0].clientViewportHt:720\n"
      "a=x-nv-video[0].maxFPS:30\na=x-nv-video[0].packetSize:1024\n"
      "a=x-nv-vqos[0].bw.maximumBitrateKbps:5000\na=x-nv-vqos[0].bitStreamFormat:1");
  ASSERT_TRUE(unterminated.ok()) << unterminated.error().message;
  EXPECT_EQ(unterminated->video_format, VideoFormat::kHevc);
  EXPECT_EQ(unterminated->bitrate_kbps, 5000u);
  EXPECT_FALSE(unterminated->bitrate_configured);
  // Defaults of the attributes left out.
  EXPECT_EQ(unterminated->audio_channels, 2u);
  EXPECT_EQ(unterminated->audio_packet_duration_ms, 5u);
  EXPECT_EQ(unterminated->slices_per_frame, 1u);
  EXPECT_EQ(unterminated->colour_space, CscColourSpace::kBt601);
}

TEST(GsAnnounce, RequiredAttributesNamedWhenMissing) {
  for (const char* name :
       {"x-nv-video[0].clientViewportWd", "x-nv-video[0].clientViewportHt", "x-nv-video[0].maxFPS",
        "x-nv-video[0].packetSize", "x-nv-vqos[0].bitStreamFormat"}) {
    const std::string e = refusal(AnnounceBody().erase(name), name);
    EXPECT_NE(e.find("missing"), std::string::npos) << e;
  }
  // The bitrate: either attribute will do, none is refused.
  Result<StreamParams> max_only =
      parseAnnounce(AnnounceBody().erase("x-ml-video.configuredBitrateKbps").text());
  ASSERT_TRUE(max_only.ok());
  EXPECT_EQ(max_only->bitrate_kbps, 16000u);
  EXPECT_FALSE(max_only->bitrate_configured);
  Result<StreamParams> configured_only =
      parseAnnounce(AnnounceBody().erase("x-nv-vqos[0].bw.maximumBitrateKbps").text());
  ASSERT_TRUE(configured_only.ok());
  EXPECT_EQ(configured_only->bitrate_kbps, 20000u);
  refusal(AnnounceBody()
              .erase("x-nv-vqos[0].bw.maximumBitrateKbps")
              .erase("x-ml-video.configuredBitrateKbps"),
          "x-nv-vqos[0].bw.maximumBitrateKbps");
  EXPECT_FALSE(parseAnnounce("").ok());
}

TEST(GsAnnounce, GarbledValuesNamed) {
  for (const char* value : {"", "abc", "-1", "1e3", "12x", "1 2", "+60", "0x3C", "4294967296"}) {
    const std::string e = refusal(AnnounceBody().set("x-nv-video[0].maxFPS", value), "maxFPS");
    EXPECT_NE(e.find("not a decimal number"), std::string::npos) << value << ": " << e;
  }
  // Optional attributes are checked as strictly as required ones.
  refusal(AnnounceBody().set("x-nv-aqos.packetDuration", "five"), "x-nv-aqos.packetDuration");
  refusal(AnnounceBody().set("x-nv-general.featureFlags", "0xA7"), "x-nv-general.featureFlags");
  // An untrusted value is shown bounded and printable.
  const std::string e = refusal(
      AnnounceBody().set("x-nv-video[0].packetSize", std::string(200, 'z') + "\x01"), "packetSize");
  EXPECT_LT(e.size(), 140u) << e;
}

TEST(GsAnnounce, ValuesOutOfRangeNamed) {
  struct Case {
    const char* name;
    const char* value;
  };
  for (const Case& c : {
           Case{"x-nv-video[0].clientViewportWd", "0"},
           Case{"x-nv-video[0].clientViewportWd", "8194"},
           Case{"x-nv-video[0].clientViewportWd", "1921"},  // odd
           Case{"x-nv-video[0].clientViewportHt", "0"},
           Case{"x-nv-video[0].clientViewportHt", "1081"},  // odd
           Case{"x-nv-video[0].clientViewportHt", "9000"},
           Case{"x-nv-video[0].maxFPS", "0"},
           Case{"x-nv-video[0].maxFPS", "481"},
           Case{"x-nv-video[0].packetSize", "63"},
           Case{"x-nv-video[0].packetSize", "9001"},
           Case{"x-nv-vqos[0].bitStreamFormat", "3"},
           Case{"x-nv-vqos[0].bw.maximumBitrateKbps", "0"},
           Case{"x-ml-video.configuredBitrateKbps", "0"},
           Case{"x-nv-video[0].dynamicRangeMode", "2"},
           Case{"x-ss-video[0].chromaSamplingType", "2"},
           Case{"x-nv-video[0].encoderCscMode", "6"},
           Case{"x-nv-video[0].maxNumReferenceFrames", "17"},
           Case{"x-nv-video[0].videoEncoderSlicesPerFrame", "0"},
           Case{"x-nv-vqos[0].fec.minRequiredFecPackets", "256"},
           Case{"x-nv-audio.surround.numChannels", "0"},
           Case{"x-nv-audio.surround.numChannels", "9"},
           Case{"x-nv-audio.surround.AudioQuality", "2"},
           Case{"x-nv-aqos.packetDuration", "7"},
           Case{"x-nv-aqos.packetDuration", "20"},
       }) {
    refusal(AnnounceBody().set(c.name, c.value), c.name);
  }
  // The bounds themselves are accepted.
  Result<StreamParams> edge = parseAnnounce(AnnounceBody()
                                                .set("x-nv-video[0].clientViewportWd", "8192")
                                                .set("x-nv-video[0].clientViewportHt", "2")
                                                .set("x-nv-video[0].maxFPS", "480")
                                                .set("x-nv-video[0].packetSize", "64")
                                                .set("x-nv-aqos.packetDuration", "10")
                                                .text());
  ASSERT_TRUE(edge.ok()) << edge.error().message;
  EXPECT_EQ(edge->width, 8192u);
  EXPECT_EQ(edge->height, 2u);
  EXPECT_EQ(edge->fps, 480u);
  EXPECT_EQ(edge->packet_size, 64u);
  EXPECT_EQ(edge->audio_packet_duration_ms, 10u);
}

TEST(GsAnnounce, PacketSizeAlignedWhenVideoEncrypted) {
  // Without video encryption any size in range (moonlight-embedded takes -packetsize as given).
  Result<StreamParams> plain =
      parseAnnounce(AnnounceBody().set("x-nv-video[0].packetSize", "1400").text());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->packet_size, 1400u);
  // With it, the client's size minus its 32-byte header stays a multiple of 16.
  refusal(AnnounceBody()
              .set("x-ss-general.encryptionEnabled", "3")
              .set("x-nv-video[0].packetSize", "1368"),
          "x-nv-video[0].packetSize");
  Result<StreamParams> aligned = parseAnnounce(AnnounceBody()
                                                   .set("x-ss-general.encryptionEnabled", "3")
                                                   .set("x-nv-video[0].packetSize", "1360")
                                                   .text());
  ASSERT_TRUE(aligned.ok());
  EXPECT_TRUE(aligned->videoEncrypted());
}

TEST(GsAnnounce, RepeatedAttributeRefused) {
  std::string body = AnnounceBody().text();
  body += "a=x-nv-video[0].maxFPS:120 \r\n";
  Result<StreamParams> r = parseAnnounce(body);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("x-nv-video[0].maxFPS given twice"), std::string::npos)
      << r.error().message;
}

TEST(GsAnnounce, FieldsOfEachAttribute) {
  Result<StreamParams> r = parseAnnounce(AnnounceBody()
                                             .set("x-nv-vqos[0].bitStreamFormat", "2")
                                             .set("x-nv-video[0].dynamicRangeMode", "1")
                                             .set("x-ss-video[0].chromaSamplingType", "1")
                                             .set("x-nv-video[0].encoderCscMode", "5")
                                             .set("x-nv-video[0].maxNumReferenceFrames", "0")
                                             .set("x-nv-video[0].videoEncoderSlicesPerFrame", "4")
                                             .set("x-nv-audio.surround.numChannels", "8")
                                             .set("x-nv-audio.surround.channelMask", "1599")
                                             .set("x-nv-audio.surround.AudioQuality", "1")
                                             .set("x-nv-general.featureFlags", "135")
                                             .set("x-ss-general.encryptionEnabled", "7")
                                             .set("x-ml-general.featureFlags", "1")
                                             .set("x-nv-general.useReliableUdp", "1")
                                             .text());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->video_format, VideoFormat::kAv1);
  EXPECT_EQ(abiCodec(r->video_format), std::nullopt);
  EXPECT_TRUE(r->hdr);
  EXPECT_TRUE(r->yuv444);
  EXPECT_EQ(r->colour_space, CscColourSpace::kBt2020);
  EXPECT_TRUE(r->full_range);
  EXPECT_EQ(r->max_reference_frames, 0u);
  EXPECT_EQ(r->slices_per_frame, 4u);
  EXPECT_EQ(r->audio_channels, 8u);
  EXPECT_EQ(r->audio_channel_mask, 0x63Fu);
  EXPECT_TRUE(r->audio_high_quality);
  EXPECT_EQ(r->nv_feature_flags, 135u);
  EXPECT_EQ(r->encryption_enabled, 7u);
  EXPECT_TRUE(r->audioEncrypted());  // through encryptionEnabled alone
  EXPECT_TRUE(r->videoEncrypted());
  EXPECT_EQ(r->ml_feature_flags, kMlFeatureFecStatus);
  EXPECT_EQ(r->reliable_udp, 1u);
  EXPECT_EQ(abiCodec(VideoFormat::kHevc), abi::Codec::kHevc);
  Result<StreamParams> csc =
      parseAnnounce(AnnounceBody().set("x-nv-video[0].encoderCscMode", "1").text());
  ASSERT_TRUE(csc.ok());
  EXPECT_EQ(csc->colour_space, CscColourSpace::kBt601);
  EXPECT_TRUE(csc->full_range);
}

TEST(GsAnnounce, UnknownAttributesAndOtherLinesIgnored) {
  std::string body = AnnounceBody().text();
  body.insert(0, "a=recvonly\r\n\r\nb=AS:1000\r\na=x-nv-video[9].unknown:zz \r\n");
  body += "a=x-nv-video[0].maxFPSx:banana\r\na=x-nv-video[0]:1\r\n";
  Result<StreamParams> r = parseAnnounce(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->fps, 60u);
}

TEST(GsAnnounce, SizeBounds) {
  std::string body = AnnounceBody().text();
  // Pad with an unknown attribute up to exactly the body limit: accepted.
  const std::string prefix = "a=x-pad:";
  std::string pad = prefix + std::string(kMaxAnnounceLine - prefix.size(), 'p');
  while (body.size() + pad.size() + 2 <= kMaxAnnounceBody) body += pad + "\r\n";
  body += std::string(kMaxAnnounceBody - body.size(), '\n');
  ASSERT_EQ(body.size(), kMaxAnnounceBody);
  EXPECT_TRUE(parseAnnounce(body).ok());
  const std::string e = parseAnnounce(body + "\n").error().message;
  EXPECT_NE(e.find("body"), std::string::npos) << e;
  // A line one byte over its limit, even an unknown one, is refused.
  std::string long_line = AnnounceBody().text() + prefix +
                          std::string(kMaxAnnounceLine - prefix.size() + 1, 'p') + "\r\n";
  const std::string l = parseAnnounce(long_line).error().message;
  EXPECT_NE(l.find("line"), std::string::npos) << l;
  // The line limit excludes the CR of the line end.
  std::string at_limit =
      AnnounceBody().text() + prefix + std::string(kMaxAnnounceLine - prefix.size(), 'p') + "\r\n";
  EXPECT_TRUE(parseAnnounce(at_limit).ok());
}

}  // namespace
}  // namespace funkhaus::net::gamestream
