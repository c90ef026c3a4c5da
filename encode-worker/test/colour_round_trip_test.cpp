// The colour policy end to end: 100% colour bars (BGRA, full-range sRGB) -> the one
// ColourConverter -> I420 tagged BT.709 limited range -> the real encoder (libx264 through
// libavcodec) -> an Annex-B file -> decoded to RGB by the real ffmpeg CLI, which reads the VUI.
// The bars must come back within a tolerance, and ffprobe must see the BT.709 tags.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/media/colour.h"
#include "funkhaus/encode/encoder.h"
#include "funkhaus/test/shell.h"
#include "test_support.h"

namespace funkhaus::encode {
namespace {

constexpr uint32_t kWidth = 320, kHeight = 240;
// White, yellow, cyan, green, magenta, red, blue, black: the SMPTE order, at 100%.
constexpr uint32_t kBars[] = {0xFFFFFF, 0xFFFF00, 0x00FFFF, 0x00FF00,
                              0xFF00FF, 0xFF0000, 0x0000FF, 0x000000};
constexpr uint32_t kBarWidth = kWidth / 8;

bool haveFfmpeg() {
  return funkhaus::test::runShell("ffmpeg -hide_banner -decoders 2>/dev/null").out.find(" h264 ") !=
             std::string::npos &&
         funkhaus::test::runShell("ffprobe -version 2>/dev/null").exit_code == 0;
}

TEST(ColourRoundTrip, ColourBarsThroughX264AndTheFfmpegCliComeBack) {
  if (!haveFfmpeg()) GTEST_SKIP() << "ffmpeg/ffprobe with an h264 decoder is not installed";
  // The bars, as a virtual display or X server gives them.
  std::vector<uint8_t> bgra(size_t{kWidth} * kHeight * 4);
  for (uint32_t y = 0; y < kHeight; ++y)
    for (uint32_t x = 0; x < kWidth; ++x) {
      const uint32_t rgb = kBars[x / kBarWidth];
      uint8_t* p = &bgra[(size_t{y} * kWidth + x) * 4];
      p[0] = rgb & 0xFF, p[1] = (rgb >> 8) & 0xFF, p[2] = rgb >> 16, p[3] = 0xFF;
    }
  // Capture's step: convert into an I420 slot payload.
  const abi::FrameGeometry g = *makeGeometry(abi::PixelFormat::kI420, kWidth, kHeight);
  std::vector<std::byte> payload(*framePayloadSize(g));
  auto target = media::imageOf(g, payload.data());
  ASSERT_TRUE(target.ok());
  media::ColourConverter converter;
  ASSERT_TRUE(converter.convert(
      {media::PixelLayout::kBgrx, kWidth, kHeight, {bgra.data()}, {kWidth * 4}}, *target));

  // The encoder's step, with what capture says in the slot header.
  EncoderConfig config;
  config.encoder = "libx264";
  config.bitrate = 20'000'000;  // plenty for flat bars: what is measured is colour, not rate
  config.fps = 30;
  config.preset = "ultrafast";
  auto encoder = Encoder::create(config);
  ASSERT_TRUE(encoder.ok()) << encoder.error().message;
  std::vector<std::byte> stream;
  for (int i = 0; i < 3; ++i) {
    Picture picture;
    picture.geometry = g;
    picture.payload = payload;
    picture.capture_time_ns = 1 + i;
    picture.colour = static_cast<uint32_t>(abi::ColourSpace::kBt709Limited);
    auto encoded = encoder->encode(std::move(picture), [&](const AccessUnit& unit) {
      stream.insert(stream.end(), unit.data.begin(), unit.data.end());
    });
    ASSERT_TRUE(encoded.ok()) << encoded.error().message;
  }
  ASSERT_FALSE(stream.empty());
  const std::string dir = ::testing::TempDir() + "funkhaus-colour-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/bars.h264";
  std::ofstream(file, std::ios::binary)
      .write(reinterpret_cast<const char*>(stream.data()),
             static_cast<std::streamsize>(stream.size()));

  // The VUI says BT.709 limited range.
  const funkhaus::test::ShellRun probe = funkhaus::test::runShell(
      "ffprobe -v error -select_streams v:0 -show_entries "
      "stream=color_space,color_range,color_primaries,color_transfer -of default=nw=1 " +
      file);
  EXPECT_EQ(probe.exit_code, 0) << probe.out;
  EXPECT_NE(probe.out.find("color_space=bt709"), std::string::npos) << probe.out;
  EXPECT_NE(probe.out.find("color_range=tv"), std::string::npos) << probe.out;
  EXPECT_NE(probe.out.find("color_primaries=bt709"), std::string::npos) << probe.out;
  EXPECT_NE(probe.out.find("color_transfer=bt709"), std::string::npos) << probe.out;

  // A viewer's decode: ffmpeg converts to RGB the way the stream's VUI says.
  const funkhaus::test::ShellRun decoded =
      funkhaus::test::runShell("ffmpeg -hide_banner -loglevel error -i " + file +
                               " -frames:v 1 -f rawvideo -pix_fmt rgb24 - 2>/dev/null");
  std::filesystem::remove_all(dir);
  ASSERT_EQ(decoded.exit_code, 0);
  ASSERT_EQ(decoded.out.size(), size_t{kWidth} * kHeight * 3);
  int worst = 0;
  for (uint32_t bar = 0; bar < 8; ++bar) {
    const uint32_t want = kBars[bar];
    const int want_rgb[3] = {int(want >> 16), int((want >> 8) & 0xFF), int(want & 0xFF)};
    // The middle of the bar, away from the edges where chroma subsampling blends neighbours.
    long sum[3] = {0, 0, 0};
    int n = 0;
    for (uint32_t y = kHeight / 4; y < kHeight * 3 / 4; y += 4)
      for (uint32_t x = bar * kBarWidth + 8; x < (bar + 1) * kBarWidth - 8; x += 2, ++n)
        for (int c = 0; c < 3; ++c)
          sum[c] += static_cast<uint8_t>(decoded.out[(size_t{y} * kWidth + x) * 3 + c]);
    for (int c = 0; c < 3; ++c) {
      const int got = static_cast<int>(sum[c] / n);
      worst = std::max(worst, std::abs(got - want_rgb[c]));
      EXPECT_NEAR(got, want_rgb[c], 6)
          << "bar " << bar << " (" << std::hex << want << std::dec << ") channel "
          << "RGB"[c];
    }
  }
  test::figure(fmt::format(
      "colour bars BGRA -> ColourConverter -> libx264 -> ffmpeg CLI -> RGB: worst channel error "
      "{} of 255 ({} bytes of H.264)",
      worst, stream.size()));
}

TEST(ColourRoundTrip, TheEncoderRefusesAFrameWhoseColourItsFormatCannotHave) {
  const abi::FrameGeometry g = *makeGeometry(abi::PixelFormat::kI420, 64, 48);
  std::vector<std::byte> payload(*framePayloadSize(g));
  EncoderConfig config;
  config.preset = "ultrafast";
  auto encoder = Encoder::create(config);
  ASSERT_TRUE(encoder.ok()) << encoder.error().message;
  bool released = false;
  Picture picture;
  picture.geometry = g;
  picture.payload = payload;
  picture.colour = static_cast<uint32_t>(abi::ColourSpace::kSrgb);  // YUV samples cannot be
  picture.on_release = [&] { released = true; };
  auto encoded = encoder->encode(std::move(picture), [](const AccessUnit&) {});
  ASSERT_FALSE(encoded.ok());
  EXPECT_NE(encoded.error().message.find("says colour space"), std::string::npos)
      << encoded.error().message;
  EXPECT_TRUE(released) << "a refused picture still gives its slot back";
}

}  // namespace
}  // namespace funkhaus::encode
