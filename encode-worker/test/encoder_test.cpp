// Encoder tests with real libx264/libx265 and real libavcodec decoders: in-band parameter sets,
// no B-frames, IDR on demand, bitrate changes, in-place input, hardware fallback, mode changes.
#include "funkhaus/encode/encoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/percentile.h"
#include "test_support.h"

namespace funkhaus::encode {
namespace {

using test::Decoder;
using test::Pattern;

// A picture in a plain buffer (not a ring), with a counted release.
struct OwnedPicture {
  abi::FrameGeometry geometry{};
  std::vector<std::byte> bytes;
  int releases = 0;

  OwnedPicture(abi::PixelFormat format, uint32_t w, uint32_t h) {
    geometry = *makeGeometry(format, w, h);
    bytes.resize(*framePayloadSize(geometry));
  }
  Picture picture(uint32_t index, Pattern pattern = Pattern::kMoving) {
    test::drawPicture(geometry, bytes, index, pattern);
    Picture p;
    p.geometry = geometry;
    p.payload = bytes;
    p.capture_time_ns = monotonicNs();
    p.on_release = [this] { ++releases; };
    return p;
  }
};

struct Collected {
  std::vector<std::byte> data;
  AccessUnit unit;  // data span re-pointed at `data`
};

AccessUnitSink collectInto(std::vector<Collected>& out) {
  return [&out](const AccessUnit& u) {
    Collected c;
    c.data.assign(u.data.begin(), u.data.end());
    c.unit = u;
    out.push_back(std::move(c));
  };
}

EncoderConfig configFor(const std::string& name, uint32_t fps = 30) {
  EncoderConfig c;
  c.encoder = name;
  c.fps = fps;
  return c;
}

class EncoderCodecTest : public ::testing::TestWithParam<const char*> {};

// Every picture in, one access unit out at once; parameter sets in-band on the first IDR,
// pts == dts and consecutive (no B-frames), no IDR after the first one (infinite GOP), every
// unit decodes at once on a real decoder, to the right size and close to the input.
TEST_P(EncoderCodecTest, EncodesAndDecodesWithoutReordering) {
  OwnedPicture pic(abi::PixelFormat::kI420, 640, 360);
  auto encoder = Encoder::create(configFor(GetParam()));
  ASSERT_TRUE(encoder) << encoder.error().message;
  EXPECT_EQ(encoder->name(), GetParam());
  EXPECT_TRUE(encoder->fallbackReason().empty());
  Decoder decoder(encoder->codec());
  constexpr int kFrames = 30;
  double worst_diff = 0;
  for (int i = 0; i < kFrames; ++i) {
    std::vector<Collected> units;
    ASSERT_TRUE(encoder->encode(pic.picture(static_cast<uint32_t>(i)), collectInto(units)));
    ASSERT_EQ(units.size(), 1u) << "frame " << i << ": one picture in, one access unit out";
    const AccessUnit& u = units[0].unit;
    EXPECT_EQ(u.pts, i);
    EXPECT_EQ(u.dts, u.pts) << "decode order must equal presentation order";
    EXPECT_FALSE(u.repeat);
    auto info = parseAccessUnit(encoder->codec(), units[0].data);
    ASSERT_TRUE(info) << info.error().message;
    if (i == 0) {
      EXPECT_TRUE(u.idr);
      EXPECT_TRUE(info->decodableAlone(encoder->codec())) << "first unit: IDR + parameter sets";
    } else {
      EXPECT_FALSE(u.idr) << "frame " << i << ": no IDR unless asked (infinite GOP)";
      EXPECT_FALSE(info->sps);
    }
    auto decoded = decoder.decode(units[0].data, u.pts);
    ASSERT_TRUE(decoded) << decoded.error().message;
    ASSERT_EQ(decoded->size(), 1u) << "frame " << i << " did not come out of the decoder at once";
    const auto& d = (*decoded)[0];
    EXPECT_EQ(d.pts, i);
    EXPECT_EQ(d.width, 640);
    EXPECT_EQ(d.height, 360);
    const double diff = test::meanAbsDiff(d.luma, test::expectedLuma(pic.geometry, pic.bytes));
    worst_diff = std::max(worst_diff, diff);
    EXPECT_LT(diff, 8.0) << "frame " << i;
  }
  test::figure(fmt::format("{} 640x360 moving pattern @ 8 Mbit/s: worst luma mean abs diff {:.2f}",
                           GetParam(), worst_diff));
  EXPECT_EQ(encoder->stats().opens, 1u);
  EXPECT_EQ(encoder->stats().idr, 1u);
}

// Keyframe request: the next unit is an IDR with parameter sets, the one after is not.
TEST_P(EncoderCodecTest, KeyframeRequestMakesTheNextUnitAnIdr) {
  OwnedPicture pic(abi::PixelFormat::kI420, 320, 240);
  auto encoder = Encoder::create(configFor(GetParam()));
  ASSERT_TRUE(encoder) << encoder.error().message;
  Decoder decoder(encoder->codec());
  std::vector<Collected> units;
  for (uint32_t i = 0; i < 8; ++i) ASSERT_TRUE(encoder->encode(pic.picture(i), collectInto(units)));
  encoder->requestKeyframe();
  for (uint32_t i = 8; i < 12; ++i)
    ASSERT_TRUE(encoder->encode(pic.picture(i), collectInto(units)));
  ASSERT_EQ(units.size(), 12u);
  for (size_t i = 0; i < units.size(); ++i) {
    const bool want_idr = i == 0 || i == 8;
    auto info = parseAccessUnit(encoder->codec(), units[i].data);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(units[i].unit.idr, want_idr) << "unit " << i;
    EXPECT_EQ(info->decodableAlone(encoder->codec()), want_idr) << "unit " << i;
    auto decoded = decoder.decode(units[i].data, units[i].unit.pts);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->size(), 1u);
  }
  EXPECT_EQ(encoder->stats().opens, 1u) << "an IDR on demand must not reopen the encoder";
}

// Bitrate change: noise needs more than either rate (at 8 Mbit/s x264 ends up at QP 51, a bit
// under the cap), so the output rate follows the setting.
// libx264 applies it in place (no reopen, no IDR); libx265 reopens (one IDR).
TEST_P(EncoderCodecTest, BitrateChangeChangesTheOutputRate) {
  constexpr uint32_t kFps = 30;
  OwnedPicture pic(abi::PixelFormat::kI420, 640, 360);
  auto encoder = Encoder::create(configFor(GetParam(), kFps));
  ASSERT_TRUE(encoder) << encoder.error().message;
  uint32_t index = 0;
  auto rate = [&](int frames, int skip) {
    uint64_t bytes = 0;
    size_t largest = 0;
    for (int i = 0; i < frames; ++i) {
      std::vector<Collected> units;
      EXPECT_TRUE(encoder->encode(pic.picture(index++, Pattern::kNoise), collectInto(units)));
      if (i < skip) continue;
      for (const auto& u : units) {
        bytes += u.data.size();
        largest = std::max(largest, u.data.size());
      }
    }
    return std::pair<double, size_t>(double(bytes) * 8 * kFps / (frames - skip), largest);
  };
  const auto [high, high_largest] = rate(60, 10);
  const uint64_t idr_before = encoder->stats().idr;
  ASSERT_TRUE(encoder->setBitrate(1'000'000));
  const auto [low, low_largest] = rate(60, 10);
  test::figure(fmt::format(
      "{} 640x360 noise @ {} fps: set 8 Mbit/s -> {:.2f} Mbit/s out (largest unit {} B, one-frame "
      "VBV {} B); set 1 Mbit/s -> {:.2f} Mbit/s out (largest {} B, VBV {} B)",
      GetParam(), kFps, high / 1e6, high_largest, 8'000'000 / kFps / 8, low / 1e6, low_largest,
      1'000'000 / kFps / 8));
  EXPECT_LT(low, high * 0.5) << "output rate did not follow the lower bitrate";
  if (std::string(GetParam()) == "libx264") {
    EXPECT_EQ(encoder->stats().opens, 1u) << "libx264 reconfigures in place";
    EXPECT_EQ(encoder->stats().idr, idr_before) << "no IDR for a bitrate change";
    EXPECT_EQ(encoder->stats().bitrate_reconfigs, 1u);
  } else {
    EXPECT_EQ(encoder->stats().opens, 2u) << "other encoders reopen for a new bitrate";
  }
  EXPECT_FALSE(encoder->setBitrate(5)) << "a nonsense bitrate is refused";
}

INSTANTIATE_TEST_SUITE_P(Software, EncoderCodecTest, ::testing::Values("libx264", "libx265"));

// In place: the AVFrame handed to avcodec_send_frame points into the caller's memory, its
// buffer is shared (our kept reference + the one sent), and libavcodec let go of it inside the
// call: the picture is released during the next encode(), when the encoder drops its own copy
// of the reference, not later.
TEST(EncoderTest, InputIsReadInPlaceAndReleasedAsSoonAsLibavcodecLetsGo) {
  const auto g = *makeGeometry(abi::PixelFormat::kI420, 640, 360);
  auto ring = test::makeRings(g);
  auto encoder = Encoder::create(configFor("libx264"));
  ASSERT_TRUE(encoder) << encoder.error().message;
  std::vector<Collected> units;
  int releases[3] = {};
  std::vector<FrameConsumer::Frame> frames;
  for (int i = 0; i < 3; ++i) {
    ASSERT_NE(test::publishPicture(*ring.producer, g, static_cast<uint32_t>(i), monotonicNs()), 0u);
    FrameConsumer::Frame f;
    ASSERT_EQ(ring.consumer->acquireLatest(1'000'000'000, &f), FrameConsumer::Status::kFrame);
    frames.push_back(f);
    Picture p;
    p.geometry = f.geometry;
    p.payload = f.payload;
    p.capture_time_ns = f.capture_time_ns;
    p.on_release = [&releases, i, &ring, f] {
      ++releases[i];
      ring.consumer->release(f);
    };
    ASSERT_TRUE(encoder->encode(std::move(p), collectInto(units)));
    const auto& s = encoder->stats();
    for (uint32_t plane = 0; plane < 3; ++plane)
      EXPECT_EQ(s.last_sent_data[plane],
                static_cast<const void*>(f.payload.data() + f.geometry.plane_offset[plane]))
          << "plane " << plane << " was not handed over in place";
    EXPECT_EQ(s.last_sent_refcount, 2) << "the slot buffer must be referenced, not copied";
    EXPECT_EQ(releases[i], 0) << "the encoder keeps the last picture for repeats";
    if (i > 0) {
      EXPECT_EQ(releases[i - 1], 1) << "the previous picture goes back at once";
    }
    EXPECT_EQ(ring.consumer->heldCount(), 1u);
  }
  EXPECT_EQ(encoder->stats().in_place, 3u);
  EXPECT_EQ(encoder->stats().converted, 0u);
  encoder->dropLast();
  EXPECT_EQ(releases[2], 1);
  EXPECT_EQ(ring.consumer->heldCount(), 0u);
}

// Repeats: the kept picture is encoded again with a new pts and capture time; it decodes to
// the same image.
TEST(EncoderTest, RepeatEncodesTheKeptPictureAgain) {
  OwnedPicture pic(abi::PixelFormat::kI420, 320, 240);
  auto encoder = Encoder::create(configFor("libx264"));
  ASSERT_TRUE(encoder) << encoder.error().message;
  Decoder decoder(Codec::kH264);
  std::vector<Collected> units;
  EXPECT_FALSE(encoder->repeatLast(1, collectInto(units))) << "nothing to repeat yet";
  ASSERT_TRUE(encoder->encode(pic.picture(5), collectInto(units)));
  const auto expected = test::expectedLuma(pic.geometry, pic.bytes);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(encoder->repeatLast(1000 + static_cast<uint64_t>(i), collectInto(units)));
  ASSERT_EQ(units.size(), 6u);
  EXPECT_EQ(pic.releases, 0);
  for (size_t i = 0; i < units.size(); ++i) {
    EXPECT_EQ(units[i].unit.pts, static_cast<int64_t>(i));
    EXPECT_EQ(units[i].unit.repeat, i > 0);
    if (i > 0) {
      EXPECT_EQ(units[i].unit.capture_time_ns, 1000 + i - 1);
    }
    auto decoded = decoder.decode(units[i].data, units[i].unit.pts);
    ASSERT_TRUE(decoded) << decoded.error().message;
    ASSERT_EQ(decoded->size(), 1u);
    EXPECT_LT(test::meanAbsDiff((*decoded)[0].luma, expected), 8.0);
  }
  encoder->dropLast();
  EXPECT_EQ(pic.releases, 1);
}

// Geometry changes reopen the encoder; the first unit after each is an IDR with parameter sets,
// and one decoder (a viewer that stays) follows through every size and pixel format.
TEST(EncoderTest, ModeChangesReopenAndKeepDecoding) {
  std::vector<std::unique_ptr<OwnedPicture>> pictures;  // outlive the encoder that refers to them
  auto encoder = Encoder::create(configFor("libx264"));
  ASSERT_TRUE(encoder) << encoder.error().message;
  Decoder decoder(Codec::kH264);
  struct Mode {
    abi::PixelFormat format;
    uint32_t w, h;
    bool converted;
  };
  const Mode modes[] = {{abi::PixelFormat::kI420, 640, 360, false},
                        {abi::PixelFormat::kNv12, 320, 240, false},
                        {abi::PixelFormat::kBgra, 352, 288, true},
                        {abi::PixelFormat::kI420, 321, 241, false}};  // odd: cropped to even
  int64_t pts = 0;
  uint64_t converted_before = 0;
  for (const Mode& mode : modes) {
    pictures.push_back(std::make_unique<OwnedPicture>(mode.format, mode.w, mode.h));
    OwnedPicture& pic = *pictures.back();
    for (uint32_t i = 0; i < 5; ++i) {
      std::vector<Collected> units;
      ASSERT_TRUE(encoder->encode(pic.picture(i), collectInto(units)));
      if (pictures.size() > 1 && i == 0) {
        EXPECT_EQ(pictures[pictures.size() - 2]->releases, 5)
            << "the previous mode's kept picture goes back at the mode change";
      }
      ASSERT_EQ(units.size(), 1u);
      auto info = parseAccessUnit(Codec::kH264, units[0].data);
      ASSERT_TRUE(info);
      EXPECT_EQ(info->decodableAlone(Codec::kH264), i == 0)
          << mode.w << "x" << mode.h << " unit " << i;
      auto decoded = decoder.decode(units[0].data, pts++);
      ASSERT_TRUE(decoded) << decoded.error().message;
      ASSERT_EQ(decoded->size(), 1u);
      EXPECT_EQ((*decoded)[0].width, static_cast<int>(mode.w & ~1u));
      EXPECT_EQ((*decoded)[0].height, static_cast<int>(mode.h & ~1u));
      const double diff =
          test::meanAbsDiff((*decoded)[0].luma, test::expectedLuma(pic.geometry, pic.bytes));
      EXPECT_LT(diff, mode.converted ? 10.0 : 8.0) << mode.w << "x" << mode.h << " unit " << i;
    }
    const uint64_t converted = encoder->stats().converted - converted_before;
    EXPECT_EQ(converted, mode.converted ? 5u : 0u);
    converted_before = encoder->stats().converted;
    // In place, the last picture stays referenced for repeats; converted, the encoder keeps
    // its own converted copy and every slot went back right after its conversion.
    EXPECT_EQ(pic.releases, mode.converted ? 5 : 4);
  }
  encoder->dropLast();
  EXPECT_EQ(pictures.back()->releases, 5);
  EXPECT_EQ(encoder->stats().opens, std::size(modes));
}

// Hardware encoders are absent here: each falls back to the software encoder of its codec
// with exactly one warning naming what was asked, why, and what is used; and that encoder
// works.
class FallbackTest : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(FallbackTest, AbsentHardwareFallsBackToSoftwareWithOneLogLine) {
  const auto [asked, expected] = GetParam();
  routeLibavLogToSpdlog();
  test::SpdlogCapture log;
  OwnedPicture pic(abi::PixelFormat::kI420, 320, 240);
  auto encoder = Encoder::create(configFor(asked));
  ASSERT_TRUE(encoder) << encoder.error().message;
  if (encoder->name() == asked) GTEST_SKIP() << asked << " works on this machine: no fallback";
  EXPECT_EQ(encoder->name(), expected);
  EXPECT_EQ(encoder->requested(), asked);
  EXPECT_FALSE(encoder->fallbackReason().empty());
  size_t warnings = 0;
  for (const auto& line : log.lines())
    if (line.rfind("warning", 0) == 0 || line.rfind("error", 0) == 0) ++warnings;
  EXPECT_EQ(warnings, 1u) << "exactly one line about the fallback";
  EXPECT_EQ(log.count({asked, "unavailable", std::string("using ") + expected + " instead"}), 1u);
  test::figure(
      fmt::format("fallback line for {}: {}", asked, log.lines().empty() ? "" : log.lines()[0]));

  Decoder decoder(encoder->codec());
  for (uint32_t i = 0; i < 3; ++i) {
    std::vector<Collected> units;
    ASSERT_TRUE(encoder->encode(pic.picture(i), collectInto(units)));
    ASSERT_EQ(units.size(), 1u);
    auto decoded = decoder.decode(units[0].data, i);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->size(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(Hardware, FallbackTest,
                         ::testing::Values(std::pair{"h264_nvenc", "libx264"},
                                           std::pair{"h264_vaapi", "libx264"},
                                           std::pair{"hevc_nvenc", "libx265"},
                                           std::pair{"h264_qsv", "libx264"}));

TEST(EncoderTest, BadConfigurationIsRefusedWithAClearError) {
  auto c = configFor("libx264");
  c.preset = "warp";
  auto bad_preset = Encoder::create(c);
  ASSERT_FALSE(bad_preset);
  EXPECT_NE(bad_preset.error().message.find("warp"), std::string::npos);
  auto unknown = Encoder::create(configFor("mpeg2video"));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("mpeg2video"), std::string::npos);
  auto zero_fps = Encoder::create(configFor("libx264", 0));
  ASSERT_FALSE(zero_fps);
  EXPECT_NE(zero_fps.error().message.find("fps"), std::string::npos);
}

TEST(EncoderTest, TinyOrUnknownPicturesAreErrorsAndStillReleased) {
  OwnedPicture tiny(abi::PixelFormat::kI420, 1, 1);
  OwnedPicture unknown(abi::PixelFormat::kI420, 64, 64);
  auto encoder = Encoder::create(configFor("libx264"));
  ASSERT_TRUE(encoder);
  std::vector<Collected> units;
  auto r = encoder->encode(tiny.picture(0), collectInto(units));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("too small"), std::string::npos);
  EXPECT_EQ(tiny.releases, 1);
  Picture p = unknown.picture(0);
  p.geometry.format = 77;
  r = encoder->encode(std::move(p), collectInto(units));
  ASSERT_FALSE(r);
  EXPECT_EQ(unknown.releases, 1);
  EXPECT_TRUE(units.empty());
}

// Figures: encode time per picture with the default preset, and the output bitrate.
TEST(EncoderFigures, EncodeTimePerFrame) {
  struct Case {
    const char* encoder;
    uint32_t w, h;
    int frames;
  };
  const Case cases[] = {
      {"libx264", 1920, 1080, 120}, {"libx264", 640, 360, 300}, {"libx265", 640, 360, 120}};
  for (const Case& c : cases) {
    EncoderConfig config = configFor(c.encoder, 60);
    OwnedPicture pic(abi::PixelFormat::kI420, c.w, c.h);
    auto encoder = Encoder::create(config);
    ASSERT_TRUE(encoder) << encoder.error().message;
    std::vector<uint64_t> times;
    uint64_t bytes = 0;
    for (int i = 0; i < c.frames; ++i) {
      Picture p = pic.picture(static_cast<uint32_t>(i));
      std::vector<Collected> units;
      const uint64_t start = monotonicNs();
      ASSERT_TRUE(encoder->encode(std::move(p), collectInto(units)));
      times.push_back(monotonicNs() - start);
      for (const auto& u : units) bytes += u.data.size();
    }
    const double first_ms = double(times.front()) / 1e6;  // includes avcodec_open2
    times.erase(times.begin());
    std::sort(times.begin(), times.end());
    const std::span<const uint64_t> sorted(times);
    const double p50 = double(percentileOfSorted(sorted, 0.50)) / 1e6;
    const double p99 = double(percentileOfSorted(sorted, 0.99)) / 1e6;
    test::figure(fmt::format(
        "{} {}x{} preset {} (moving pattern, {} frames): encode p50 {:.2f} ms, p99 {:.2f} ms "
        "(first frame, opening the encoder: {:.1f} ms); output {:.2f} Mbit/s at 60 fps (target "
        "{:.0f}, CBR cap: the pattern needs less)",
        c.encoder, c.w, c.h, config.preset, c.frames, p50, p99, first_ms,
        double(bytes) * 8 * 60 / c.frames / 1e6, double(config.bitrate) / 1e6));
  }
}

}  // namespace
}  // namespace funkhaus::encode
