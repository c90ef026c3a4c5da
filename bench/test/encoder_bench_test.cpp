// The encoder benchmark's pieces: PSNR on known inputs, x264's SEI read back, the Encoder's
// threading/VBV/lookahead fields as x264 reports and shows them, and the decode-and-compare
// path on a real encode. No timing assertions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "funkhaus/bench/encoder_run.h"
#include "funkhaus/bench/psnr.h"
#include "funkhaus/common/media/nal.h"

namespace funkhaus::bench {
namespace {

// ---- PSNR -------------------------------------------------------------------------------------

struct Plane {
  std::vector<uint8_t> bytes;
  PlaneView view;
  Plane(uint32_t w, uint32_t h, size_t stride, uint8_t value, uint8_t padding = 0)
      : bytes(stride * h, padding) {
    for (uint32_t y = 0; y < h; ++y) std::memset(bytes.data() + y * stride, value, w);
    view = {bytes.data(), stride, w, h};
  }
};

TEST(PsnrTest, IdenticalPlanesGiveTheCap) {
  Plane a(64, 32, 64, 77), b(64, 32, 80, 77, /*padding=*/200);  // padding is not compared
  SquaredError e;
  e.addPlane(0, a.view, b.view);
  EXPECT_EQ(e.sse[0], 0u);
  EXPECT_EQ(e.samples[0], 64u * 32u);
  EXPECT_EQ(e.psnrY(), kMaxPsnrDb);
}

TEST(PsnrTest, AConstantOffsetGivesItsKnownPsnr) {
  // Every sample 10 off: MSE 100, PSNR 10 log10(255^2 / 100) = 28.1308 dB.
  Plane a(64, 32, 64, 100), b(64, 32, 96, 110);
  SquaredError e;
  e.addPlane(0, a.view, b.view);
  EXPECT_EQ(e.sse[0], 100u * 64u * 32u);
  EXPECT_NEAR(e.psnrY(), 28.1308, 1e-3);
  // Chroma identical (a quarter of the luma's samples each): the YUV figure weighs by samples,
  // MSE 100 * 4/6, 29.8917 dB.
  Plane c(32, 16, 32, 128);
  e.addPlane(1, c.view, c.view);
  e.addPlane(2, c.view, c.view);
  EXPECT_NEAR(e.psnrY(), 28.1308, 1e-3);
  EXPECT_NEAR(e.psnrAll(), 10 * std::log10(255.0 * 255.0 / (100.0 * 4 / 6)), 1e-9);
  EXPECT_NEAR(e.psnrAll(), 29.8917, 1e-3);
  // Pooling two runs: the same as one run over all frames.
  SquaredError twice = e;
  twice.add(e);
  EXPECT_NEAR(twice.psnrY(), e.psnrY(), 1e-12);
  EXPECT_EQ(twice.samples[0], 2 * e.samples[0]);
}

TEST(PsnrTest, EdgeCases) {
  EXPECT_EQ(SquaredError::psnrOf(0, 0), 0.0);  // nothing compared
  // Everything 255 off (black against white): 0 dB.
  EXPECT_NEAR(SquaredError::psnrOf(255u * 255u * 10, 10), 0.0, 1e-12);
  // One sample off by one in ten thousand: far above any codec, still below the cap.
  EXPECT_NEAR(SquaredError::psnrOf(1, 10'000), 10 * std::log10(65025.0 * 1e4), 1e-9);
  EXPECT_LT(SquaredError::psnrOf(1, 10'000), kMaxPsnrDb);
  EXPECT_EQ(SquaredError::psnrOf(1, uint64_t{1} << 62), kMaxPsnrDb);  // capped
}

// ---- x264's SEI -------------------------------------------------------------------------------

TEST(X264SeiTest, OptionsAreReadFromTheUserDataText) {
  std::string au("\0\0\0\1\x06\x05\x10", 7);
  au += std::string(16, 'k');  // the UUID
  au += "x264 - core 164 - H.264/MPEG-4 AVC codec - options: cabac=1 threads=3 ";
  au += "sliced_threads=1 slices=3 rc=cbr vbv_bufsize=133";
  au += std::string("\0\x80\0\0\1\x65\x88", 7);
  const std::string text =
      x264OptionsText(std::as_bytes(std::span<const char>(au.data(), au.size())));
  EXPECT_EQ(text, "cabac=1 threads=3 sliced_threads=1 slices=3 rc=cbr vbv_bufsize=133");
  const auto o = parseX264Options(text);
  EXPECT_EQ(o.at("threads"), "3");
  EXPECT_EQ(o.at("sliced_threads"), "1");
  EXPECT_EQ(o.at("vbv_bufsize"), "133");
  EXPECT_EQ(o.size(), 6u);
  const std::string none("\0\0\0\1\x65\x88", 6);
  EXPECT_EQ(x264OptionsText(std::as_bytes(std::span<const char>(none.data(), none.size()))), "");
}

// ---- the Encoder's settings reach x264 --------------------------------------------------------

constexpr uint32_t kWidth = 640, kHeight = 368;  // 23 macroblock rows: room for 4 slices

const Clip& smallClip() {
  static const Clip clip = [] {
    auto c = Clip::render(kWidth, kHeight, 24);
    if (!c) std::abort();
    return std::move(*c);
  }();
  return clip;
}

encode::EncoderConfig smallConfig() {
  encode::EncoderConfig c;
  c.bitrate = 2'000'000;
  c.fps = 60;
  return c;
}

// Encodes the small clip paced at 60 fps; the run and what x264 said about itself.
struct Encoded {
  EncoderRun run;
  std::map<std::string, std::string> x264;
};
Encoded encodeWith(const encode::EncoderConfig& config) {
  auto run = runPaced(smallClip(), config);
  EXPECT_TRUE(run) << (run ? "" : run.error().message);
  if (!run) return {};
  EXPECT_FALSE(run->units.empty());
  EXPECT_FALSE(run->x264_options.empty()) << "no x264 SEI in the first access unit";
  auto x264 = parseX264Options(run->x264_options);
  return {std::move(*run), std::move(x264)};
}

size_t sliceCount(const EncodedUnit& unit) {
  auto info = media::parseAccessUnit(media::Codec::kH264, unit.data);
  EXPECT_TRUE(info);
  if (!info) return 0;
  size_t slices = 0;
  for (const media::NalUnit& nal : info->nals) {
    const int type = media::nalType(media::Codec::kH264, nal);
    if (type == 1 || type == 5) ++slices;
  }
  return slices;
}

TEST(EncoderSettingsTest, DefaultsAreZerolatencyWithOneFrameOfVbv) {
  const Encoded e = encodeWith(smallConfig());
  EXPECT_EQ(e.x264.at("sliced_threads"), "1");
  EXPECT_EQ(e.x264.at("rc_lookahead"), "0");
  EXPECT_EQ(e.x264.at("bframes"), "0");
  EXPECT_EQ(e.x264.at("rc"), "cbr");
  EXPECT_EQ(e.x264.at("vbv_maxrate"), "2000");
  EXPECT_EQ(e.x264.at("vbv_bufsize"), "33");  // 2 Mbit/s / 60, in kbit
  // One frame in, one access unit out.
  EXPECT_EQ(e.run.units.size(), e.run.handed_in);
}

TEST(EncoderSettingsTest, SlicedThreadCountReachesX264AsThreadsAndSlices) {
  for (uint32_t threads : {1u, 3u, 4u}) {
    SCOPED_TRACE(threads);
    encode::EncoderConfig c = smallConfig();
    c.threads = threads;
    const Encoded e = encodeWith(c);
    EXPECT_EQ(e.x264.at("threads"), std::to_string(threads));
    if (threads > 1) {
      EXPECT_EQ(e.x264.at("sliced_threads"), "1");
      EXPECT_EQ(e.x264.at("slices"), std::to_string(threads));
    }
    // Sliced threads: one slice per thread in every picture, and still no delay.
    ASSERT_FALSE(e.run.units.empty());
    for (const EncodedUnit& u : e.run.units) EXPECT_EQ(sliceCount(u), threads);
    EXPECT_EQ(e.run.units.size(), e.run.handed_in);
  }
}

TEST(EncoderSettingsTest, FrameThreadsReachX264AndDelayTheOutput) {
  encode::EncoderConfig c = smallConfig();
  c.threads = 3;
  c.sliced_threads = false;
  const Encoded e = encodeWith(c);
  EXPECT_EQ(e.x264.at("threads"), "3");
  EXPECT_EQ(e.x264.at("sliced_threads"), "0");
  ASSERT_FALSE(e.run.units.empty());
  EXPECT_EQ(sliceCount(e.run.units.front()), 1u);  // a whole picture per thread
  // Frame threads hold frames back: fewer units come out than frames went in (x264 keeps
  // threads - 1 pictures at least; the run does not flush at its end).
  EXPECT_LE(e.run.units.size() + 2, e.run.handed_in);
}

TEST(EncoderSettingsTest, VbvFramesAndLookaheadAndTuneReachX264) {
  encode::EncoderConfig c = smallConfig();
  c.vbv_frames = 4;
  Encoded e = encodeWith(c);
  EXPECT_EQ(e.x264.at("vbv_bufsize"), "133");  // 4 frames of 2 Mbit/s at 60 fps
  EXPECT_EQ(e.x264.at("rc"), "cbr");

  c.vbv_frames = 0;  // no VBV: average bitrate
  e = encodeWith(c);
  EXPECT_EQ(e.x264.at("rc"), "abr");
  EXPECT_EQ(e.x264.count("vbv_bufsize"), 0u);

  c = smallConfig();
  c.zerolatency = false;
  c.sliced_threads = false;
  c.threads = 1;
  c.lookahead = 10;
  e = encodeWith(c);
  EXPECT_EQ(e.x264.at("rc_lookahead"), "10");
  EXPECT_EQ(e.x264.at("sliced_threads"), "0");
  EXPECT_EQ(e.x264.at("bframes"), "0");  // never B-frames, with or without the tune
  // Lookahead holds frames back too.
  EXPECT_LT(e.run.units.size(), e.run.handed_in);
}

TEST(EncoderSettingsTest, OutOfRangeFieldsAreRefused) {
  encode::EncoderConfig c = smallConfig();
  c.threads = encode::kMaxEncoderThreads + 1;
  EXPECT_FALSE(encode::validateConfig(c));
  c = smallConfig();
  c.vbv_frames = encode::kMaxVbvFrames + 1;
  EXPECT_FALSE(encode::validateConfig(c));
  c = smallConfig();
  c.lookahead = -2;
  EXPECT_FALSE(encode::validateConfig(c));
  c.lookahead = encode::kMaxLookahead;
  EXPECT_TRUE(encode::validateConfig(c));
}

// ---- decode and compare -----------------------------------------------------------------------

TEST(EncoderQualityTest, DecodedPicturesAreComparedWithTheirOwnSourceFrames) {
  const Encoded e = encodeWith(smallConfig());
  ASSERT_FALSE(e.run.units.empty());
  size_t pictures = 0;
  auto q = qualityOf(smallClip(), e.run.units, 0, &pictures);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(pictures, e.run.units.size());
  EXPECT_GT(q->psnrY(), 30.0);  // 2 Mbit/s at 640x368: a good picture
  EXPECT_LT(q->psnrY(), kMaxPsnrDb);
  // Against the wrong frames (every unit said to be the next frame's) the picture moves by
  // the pattern's motion: clearly worse. Proves the pairing by source index matters.
  std::vector<EncodedUnit> shifted = e.run.units;
  for (EncodedUnit& u : shifted)  // every unit still decoded; the last frame has no next one
    u.source = u.source + 1 < smallClip().frames() ? u.source + 1 : UINT32_MAX;
  auto wrong = qualityOf(smallClip(), shifted, 0);
  ASSERT_TRUE(wrong);
  EXPECT_LT(wrong->psnrY() + 5.0, q->psnrY());
  // Leaving out the first frames leaves out their pictures.
  size_t later = 0;
  ASSERT_TRUE(qualityOf(smallClip(), e.run.units, 12, &later));
  EXPECT_LT(later, pictures);
}

}  // namespace
}  // namespace funkhaus::bench
