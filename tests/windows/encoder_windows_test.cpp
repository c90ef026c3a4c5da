// The encoder on Windows (issue 17): the encode worker's own Encoder over the mingw libavcodec +
// libx264 of scripts/windows-deps.sh, run under Wine; checked by our NAL parser, libavcodec's
// h264 parser and its h264 decoder. encoder_test.cpp runs beside it (libx264 cases).
#include <gtest/gtest.h>

extern "C" {
#include <libavcodec/avcodec.h>
}

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/media/nal.h"
#include "funkhaus/encode/encoder.h"
#include "test_support.h"

namespace funkhaus::encode {
namespace {

constexpr int kSps = 7, kPps = 8, kIdrSlice = 5, kSlice = 1;

// Types of the NAL units of one access unit, in order.
std::vector<int> nalTypes(const std::vector<uint8_t>& unit) {
  std::vector<media::NalUnit> nals;
  const auto irregular = media::splitAnnexB(unit, nals);
  EXPECT_EQ(irregular.leading_bytes, 0u);
  EXPECT_EQ(irregular.empty_units, 0u);
  std::vector<int> types;
  for (const auto& nal : nals) types.push_back(media::nalType(Codec::kH264, nal));
  return types;
}

int countOf(const std::vector<int>& types, int type) {
  return static_cast<int>(std::count(types.begin(), types.end(), type));
}

// What libavcodec's h264 parser makes of a byte stream fed in fixed-size chunks (as from a
// socket, not split at access units).
struct ParsedFrame {
  size_t size = 0;
  bool key_frame = false;
  int width = 0;
  int height = 0;
};
std::vector<ParsedFrame> parseStream(const std::vector<uint8_t>& stream, size_t chunk) {
  AVCodecParserContext* parser = av_parser_init(AV_CODEC_ID_H264);
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
  EXPECT_NE(parser, nullptr) << "no h264 parser in this libavcodec build";
  EXPECT_NE(codec, nullptr) << "no h264 decoder in this libavcodec build";
  if (parser == nullptr || codec == nullptr) return {};
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  std::vector<ParsedFrame> frames;
  size_t pos = 0;
  for (;;) {
    const size_t n = std::min(chunk, stream.size() - pos);  // 0 at the end: flush
    uint8_t* out = nullptr;
    int out_size = 0;
    const int used = av_parser_parse2(parser, ctx, &out, &out_size, stream.data() + pos,
                                      static_cast<int>(n), AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
    EXPECT_GE(used, 0);
    if (used < 0) break;
    pos += static_cast<size_t>(used);
    if (out_size > 0)
      frames.push_back(
          {static_cast<size_t>(out_size), parser->key_frame == 1, parser->width, parser->height});
    if (n == 0) break;
  }
  avcodec_free_context(&ctx);
  av_parser_close(parser);
  return frames;
}

// A 1280x720 BGRA desktop (converted to I420 by the colour module before libx264), an IDR on
// demand at picture 12: one access unit per picture, SPS + PPS + IDR slices exactly at 0 and
// 12, plain slices everywhere else; every unit decodes at once to 1280x720 close to the input;
// the parser finds the same 20 frames and the same two keyframes in the concatenated stream.
TEST(WindowsEncoder, BgraDesktopThroughLibx264ParsesAndDecodes) {
  constexpr uint32_t kWidth = 1280, kHeight = 720;
  constexpr int kPictures = 20, kRequestedIdr = 12;
  const auto geometry = *makeGeometry(abi::PixelFormat::kBgra, kWidth, kHeight);
  std::vector<std::byte> payload(*framePayloadSize(geometry));
  EncoderConfig config;
  config.fps = 30;
  auto encoder = Encoder::create(config);
  ASSERT_TRUE(encoder) << encoder.error().message;
  EXPECT_EQ(encoder->name(), "libx264");
  EXPECT_TRUE(encoder->fallbackReason().empty());
  EXPECT_EQ(encoder->codec(), Codec::kH264);

  test::Decoder decoder(Codec::kH264);
  std::vector<uint8_t> stream;
  std::vector<size_t> unit_sizes;
  int releases = 0;
  for (int i = 0; i < kPictures; ++i) {
    if (i == kRequestedIdr) encoder->requestKeyframe();
    test::drawPicture(geometry, payload, static_cast<uint32_t>(i));
    Picture picture;
    picture.geometry = geometry;
    picture.payload = payload;
    picture.capture_time_ns = 1000u + static_cast<uint64_t>(i);
    picture.on_release = [&releases] { ++releases; };
    std::vector<std::vector<uint8_t>> units;
    std::vector<AccessUnit> infos;
    ASSERT_TRUE(encoder->encode(std::move(picture), [&](const AccessUnit& u) {
      units.emplace_back(reinterpret_cast<const uint8_t*>(u.data.data()),
                         reinterpret_cast<const uint8_t*>(u.data.data()) + u.data.size());
      infos.push_back(u);
    }));
    ASSERT_EQ(units.size(), 1u) << "picture " << i << ": one picture in, one access unit out";
    const bool want_idr = i == 0 || i == kRequestedIdr;
    EXPECT_EQ(infos[0].idr, want_idr) << "picture " << i;
    EXPECT_EQ(infos[0].pts, i);
    EXPECT_EQ(infos[0].dts, i);
    EXPECT_EQ(infos[0].capture_time_ns, 1000u + static_cast<uint64_t>(i));

    const std::vector<int> types = nalTypes(units[0]);
    if (want_idr) {
      EXPECT_EQ(countOf(types, kSps), 1) << "picture " << i;
      EXPECT_EQ(countOf(types, kPps), 1) << "picture " << i;
      EXPECT_GE(countOf(types, kIdrSlice), 1) << "picture " << i;
      EXPECT_EQ(countOf(types, kSlice), 0) << "picture " << i;
      // Parameter sets before the first slice.
      const auto first_slice = std::find(types.begin(), types.end(), kIdrSlice);
      EXPECT_LT(std::find(types.begin(), types.end(), kSps), first_slice);
      EXPECT_LT(std::find(types.begin(), types.end(), kPps), first_slice);
    } else {
      EXPECT_EQ(countOf(types, kSps) + countOf(types, kPps) + countOf(types, kIdrSlice), 0)
          << "picture " << i << ": no parameter sets, no IDR unless asked (infinite GOP)";
      EXPECT_GE(countOf(types, kSlice), 1) << "picture " << i;
    }

    auto decoded = decoder.decode(
        std::span(reinterpret_cast<const std::byte*>(units[0].data()), units[0].size()), i);
    ASSERT_TRUE(decoded) << decoded.error().message;
    ASSERT_EQ(decoded->size(), 1u) << "picture " << i << " did not come out of the decoder at once";
    const auto& d = (*decoded)[0];
    EXPECT_EQ(d.width, static_cast<int>(kWidth));
    EXPECT_EQ(d.height, static_cast<int>(kHeight));
    EXPECT_EQ(d.key_frame, want_idr) << "picture " << i;
    EXPECT_LT(test::meanAbsDiff(d.luma, test::expectedLuma(geometry, payload)), 8.0)
        << "picture " << i;

    stream.insert(stream.end(), units[0].begin(), units[0].end());
    unit_sizes.push_back(units[0].size());
  }
  EXPECT_EQ(encoder->stats().opens, 1u);
  EXPECT_EQ(encoder->stats().pictures, static_cast<uint64_t>(kPictures));
  EXPECT_EQ(encoder->stats().idr, 2u);
  EXPECT_EQ(encoder->stats().converted, static_cast<uint64_t>(kPictures)) << "BGRA is converted";
  EXPECT_EQ(encoder->stats().in_place, 0u);
  // Converted pictures are let go at once; the encoder keeps none of the caller's memory.
  EXPECT_EQ(releases, kPictures);

  const auto frames = parseStream(stream, 4096);
  ASSERT_EQ(frames.size(), static_cast<size_t>(kPictures));
  for (int i = 0; i < kPictures; ++i) {
    EXPECT_EQ(frames[i].size, unit_sizes[i]) << "frame " << i << ": the parser splits elsewhere";
    EXPECT_EQ(frames[i].key_frame, i == 0 || i == kRequestedIdr) << "frame " << i;
    EXPECT_EQ(frames[i].width, static_cast<int>(kWidth));
    EXPECT_EQ(frames[i].height, static_cast<int>(kHeight));
  }
  test::figure("libx264 under Wine, 1280x720 BGRA: " + std::to_string(stream.size()) +
               " bytes for " + std::to_string(kPictures) + " pictures (IDR " +
               std::to_string(unit_sizes[0]) + " B, requested IDR " +
               std::to_string(unit_sizes[kRequestedIdr]) + " B)");
}

// The build is the minimal one: libx264 and nothing that would mask its absence.
TEST(WindowsEncoder, HardwareEncodersFallBackToLibx264) {
  EncoderConfig config;
  config.encoder = "h264_nvenc";
  auto encoder = Encoder::create(config);
  ASSERT_TRUE(encoder) << encoder.error().message;
  EXPECT_EQ(encoder->name(), "libx264");
  EXPECT_EQ(encoder->requested(), "h264_nvenc");
  EXPECT_NE(encoder->fallbackReason().find("not in this libavcodec build"), std::string::npos)
      << encoder->fallbackReason();
  config.encoder = "libx265";
  auto hevc = Encoder::create(config);
  ASSERT_FALSE(hevc);
  EXPECT_NE(hevc.error().message.find("libx265"), std::string::npos) << hevc.error().message;
}

}  // namespace
}  // namespace funkhaus::encode
