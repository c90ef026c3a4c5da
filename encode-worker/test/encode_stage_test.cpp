// EncodeStage tests over real rings in one process: frames from a real frame ring, access units
// read back from a real packet ring and decoded like a viewer would; repeats; new producers.
#include "funkhaus/encode/encode_stage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "funkhaus/abi/token.h"
#include "funkhaus/common/clock.h"
#include "test_support.h"

namespace funkhaus::encode {
namespace {

using test::Decoder;
using Turn = EncodeStage::Turn;

EncoderConfig configFor(const std::string& name, uint32_t fps = 30) {
  EncoderConfig c;
  c.encoder = name;
  c.fps = fps;
  return c;
}

Turn stepUntilEncoded(EncodeStage& stage) {
  for (int i = 0; i < 200; ++i) {
    const Turn t = stage.step(50'000'000);
    if (t == Turn::kEncoded || t == Turn::kError) return t;
  }
  return Turn::kIdle;
}

class StageCodecTest : public ::testing::TestWithParam<const char*> {};

// N synthetic I420 frames through frame ring -> stage -> packet ring -> decoder.
TEST_P(StageCodecTest, FramesFromTheRingDecodeFromThePacketRing) {
  const auto g = *makeGeometry(abi::PixelFormat::kI420, 640, 360);
  auto rings = test::makeRings(g);
  auto encoder = Encoder::create(configFor(GetParam()));
  ASSERT_TRUE(encoder) << encoder.error().message;
  const Codec codec = encoder->codec();
  EncodeStage stage(std::move(*encoder), *rings.consumer, *rings.packets);
  Decoder decoder(codec);
  constexpr uint32_t kFrames = 40;
  std::vector<uint64_t> captures;
  for (uint32_t i = 0; i < kFrames; ++i) {
    const uint64_t capture = monotonicNs();
    captures.push_back(capture);
    ASSERT_NE(test::publishPicture(*rings.producer, g, i, capture), 0u);
    ASSERT_EQ(stepUntilEncoded(stage), Turn::kEncoded) << "frame " << i;
    EXPECT_LE(rings.consumer->heldCount(), 1u) << "only the kept frame stays held";
    auto records = test::drainRecords(*rings.reader);
    ASSERT_EQ(records.size(), 1u) << "frame " << i;
    const auto& r = records[0];
    EXPECT_EQ(r.header.codec, static_cast<uint32_t>(codec));
    EXPECT_EQ(r.header.frame_number, i);
    EXPECT_EQ(r.header.capture_time_ns, capture);
    EXPECT_EQ((r.header.flags & abi::kRecordFlagKeyframe) != 0, i == 0) << "frame " << i;
    EXPECT_EQ((r.header.flags & abi::kRecordFlagDiscontinuity) != 0, i == 0)
        << "a fresh producer flags its first record";
    auto info = parseAccessUnit(codec, r.payload);
    ASSERT_TRUE(info) << info.error().message;
    if (i == 0) {
      EXPECT_TRUE(info->decodableAlone(codec)) << "IDR with in-band parameter sets";
    }
    auto decoded = decoder.decode(r.payload, static_cast<int64_t>(r.header.frame_number));
    ASSERT_TRUE(decoded) << decoded.error().message;
    ASSERT_EQ(decoded->size(), 1u) << "frame " << i << " not decoded at once";
    EXPECT_EQ((*decoded)[0].pts, static_cast<int64_t>(i)) << "presentation order = decode order";
    EXPECT_EQ((*decoded)[0].width, 640);
    EXPECT_EQ((*decoded)[0].height, 360);
    // Compare with the picture as published: draw it again (the slot went back to the ring).
    std::vector<std::byte> again(*framePayloadSize(g));
    test::drawPicture(g, again, i);
    EXPECT_LT(test::meanAbsDiff((*decoded)[0].luma, test::expectedLuma(g, again)), 8.0);
  }
  const auto& c = stage.counters();
  EXPECT_EQ(c.frames_in, kFrames);
  EXPECT_EQ(c.frames_out, kFrames);
  EXPECT_EQ(c.keyframes, 1u);
  EXPECT_EQ(c.errors, 0u);
  EXPECT_EQ(c.repeats, 0u);
  EXPECT_GT(c.bytes_out, 0u);
  abi::WorkerStatusPage page{};
  stage.publish(page, monotonicNs());
  EXPECT_EQ(page.frames_in, kFrames);
  EXPECT_EQ(page.frames_out, kFrames);
  EXPECT_EQ(page.keyframes, 1u);
  EXPECT_EQ(page.bytes_out, c.bytes_out);
  EXPECT_GT(page.latency_p50_ns, 0u) << "capture -> encoded latency is published";
  EXPECT_GT(page.stage_p50_ns, 0u) << "the stage's own time (ring -> encoded) is published";
  EXPECT_LE(page.stage_p50_ns, page.latency_p50_ns) << "taken from the ring after the capture";
}

// Keyframe request through the stage: the next record carries the keyframe flag and an IDR.
TEST_P(StageCodecTest, KeyframeRequestFlagsTheNextRecord) {
  const auto g = *makeGeometry(abi::PixelFormat::kI420, 320, 240);
  auto rings = test::makeRings(g);
  auto encoder = Encoder::create(configFor(GetParam()));
  ASSERT_TRUE(encoder) << encoder.error().message;
  const Codec codec = encoder->codec();
  EncodeStage stage(std::move(*encoder), *rings.consumer, *rings.packets);
  for (uint32_t i = 0; i < 10; ++i) {
    if (i == 6) stage.requestKeyframe();
    ASSERT_NE(test::publishPicture(*rings.producer, g, i, monotonicNs()), 0u);
    ASSERT_EQ(stepUntilEncoded(stage), Turn::kEncoded);
  }
  auto records = test::drainRecords(*rings.reader);
  ASSERT_EQ(records.size(), 10u);
  for (size_t i = 0; i < records.size(); ++i) {
    const bool key = (records[i].header.flags & abi::kRecordFlagKeyframe) != 0;
    EXPECT_EQ(key, i == 0 || i == 6) << "record " << i;
    auto info = parseAccessUnit(codec, records[i].payload);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->keyframe, key) << "the flag says what the bitstream holds";
    EXPECT_EQ(info->decodableAlone(codec), key);
  }
  EXPECT_EQ(stage.counters().keyframes, 2u);
}

INSTANTIATE_TEST_SUITE_P(Software, StageCodecTest, ::testing::Values("libx264", "libx265"));

// No new frame for two intervals: the last one is encoded again once per interval, with fresh
// capture times and frame numbers; the repeats decode to the same picture; a new frame stops
// them and its slot replaces the kept one.
TEST(StageTest, RepeatsTheLastFrameWhileNoNewOneComes) {
  constexpr uint32_t kFps = 60;
  const auto g = *makeGeometry(abi::PixelFormat::kI420, 320, 240);
  auto rings = test::makeRings(g);
  auto encoder = Encoder::create(configFor("libx264", kFps));
  ASSERT_TRUE(encoder);
  EncodeStage stage(std::move(*encoder), *rings.consumer, *rings.packets);
  Decoder decoder(Codec::kH264);
  for (uint32_t i = 0; i < 3; ++i) {
    ASSERT_NE(test::publishPicture(*rings.producer, g, i, monotonicNs()), 0u);
    ASSERT_EQ(stepUntilEncoded(stage), Turn::kEncoded);
  }
  const uint64_t last_fresh = monotonicNs();
  // Nothing published for a while: the stage repeats.
  uint64_t first_repeat_ns = 0;
  int repeats = 0;
  const uint64_t until = monotonicNs() + 500'000'000;
  while (monotonicNs() < until) {
    const Turn t = stage.step(20'000'000);
    ASSERT_NE(t, Turn::kEncoded);
    ASSERT_NE(t, Turn::kError);
    if (t == Turn::kRepeated) {
      if (repeats++ == 0) first_repeat_ns = monotonicNs();
    }
  }
  ASSERT_GT(repeats, 0) << "no repeats while the producer was silent";
  EXPECT_EQ(rings.consumer->heldCount(), 1u) << "the repeated frame stays held";
  test::figure(fmt::format(
      "stage repeats at {} fps: first repeat {:.1f} ms after the last new frame (2 intervals = "
      "{:.1f} ms), {} repeats in 500 ms ({:.1f}/s)",
      kFps, double(first_repeat_ns - last_fresh) / 1e6, 2000.0 / kFps, repeats, repeats / 0.5));

  std::vector<std::byte> last(*framePayloadSize(g));
  test::drawPicture(g, last, 2);
  const auto expected = test::expectedLuma(g, last);
  auto records = test::drainRecords(*rings.reader);
  ASSERT_EQ(records.size(), 3u + static_cast<size_t>(repeats));
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].header.frame_number, i);
    if (i > 0) {
      EXPECT_GT(records[i].header.capture_time_ns, records[i - 1].header.capture_time_ns);
    }
    auto decoded = decoder.decode(records[i].payload, static_cast<int64_t>(i));
    ASSERT_TRUE(decoded) << decoded.error().message;
    ASSERT_EQ(decoded->size(), 1u);
    if (i >= 3) {
      EXPECT_LT(test::meanAbsDiff((*decoded)[0].luma, expected), 8.0) << "repeat " << i;
    }
    EXPECT_EQ((records[i].header.flags & abi::kRecordFlagRepeat) != 0, i >= 3)
        << "only re-encodes are marked as repeats: " << i;
  }

  // A new frame ends the repeats.
  const uint64_t capture = monotonicNs();
  ASSERT_NE(test::publishPicture(*rings.producer, g, 3, capture), 0u);
  ASSERT_EQ(stepUntilEncoded(stage), Turn::kEncoded);
  records = test::drainRecords(*rings.reader);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().header.capture_time_ns, capture);
  EXPECT_EQ(rings.consumer->heldCount(), 1u) << "the old frame went back";
  EXPECT_EQ(stage.counters().repeats, static_cast<uint64_t>(repeats));
}

// The producer repeats (a static screen): each repeat publication is encoded from the picture
// the encoder kept, at once and without reading a pixel of the ring (the stage holds the
// picture's slot, so the repeats come payload-free); the repeats decode to the same picture.
TEST(StageTest, RepeatPublicationsReEncodeTheKeptPictureWithoutReadingTheRing) {
  const auto g = *makeGeometry(abi::PixelFormat::kI420, 320, 240);
  auto rings = test::makeRings(g);
  auto encoder = Encoder::create(configFor("libx264", 60));
  ASSERT_TRUE(encoder);
  EncodeStage stage(std::move(*encoder), *rings.consumer, *rings.packets);
  Decoder decoder(Codec::kH264);
  const uint64_t picture = test::publishPicture(*rings.producer, g, 7, monotonicNs());
  ASSERT_NE(picture, 0u);
  ASSERT_EQ(stepUntilEncoded(stage), Turn::kEncoded);
  ASSERT_EQ(rings.consumer->heldCount(), 1u) << "the encoder keeps its picture";
  constexpr int kRepeats = 5;
  std::vector<uint64_t> captures;
  for (int i = 0; i < kRepeats; ++i) {
    const uint64_t capture = monotonicNs();
    captures.push_back(capture);
    auto token = rings.producer->repeatLast(capture);
    ASSERT_TRUE(token && *token != 0u);
    EXPECT_NE(rings.producer->slot(abi::tokenSlot(*token)).flags & abi::kSlotFlagNoPayload, 0u)
        << "the stage holds the picture: the repeat is payload-free";
    ASSERT_EQ(stage.step(50'000'000), Turn::kRepeated) << "repeat " << i;
    EXPECT_EQ(rings.consumer->heldCount(), 1u) << "a repeat is given back at once";
  }
  std::vector<std::byte> drawn(*framePayloadSize(g));
  test::drawPicture(g, drawn, 7);
  const auto expected = test::expectedLuma(g, drawn);
  auto records = test::drainRecords(*rings.reader);
  ASSERT_EQ(records.size(), 1u + kRepeats);
  for (size_t i = 0; i < records.size(); ++i) {
    auto decoded = decoder.decode(records[i].payload, static_cast<int64_t>(i));
    ASSERT_TRUE(decoded) << decoded.error().message;
    ASSERT_EQ(decoded->size(), 1u);
    EXPECT_LT(test::meanAbsDiff((*decoded)[0].luma, expected), 8.0) << "record " << i;
    if (i > 0) {
      EXPECT_EQ(records[i].header.capture_time_ns, captures[i - 1]);
    }
  }
  EXPECT_EQ(stage.counters().repeats, static_cast<uint64_t>(kRepeats));
  EXPECT_EQ(stage.counters().frames_in, 1u + kRepeats);
}

// A new producer (capture restarted) starts a new generation; the stage takes its frames and
// keeps one decodable stream.
TEST(StageTest, FollowsARestartedProducer) {
  const auto g = *makeGeometry(abi::PixelFormat::kI420, 320, 240);
  auto rings = test::makeRings(g);
  auto encoder = Encoder::create(configFor("libx264"));
  ASSERT_TRUE(encoder);
  EncodeStage stage(std::move(*encoder), *rings.consumer, *rings.packets);
  Decoder decoder(Codec::kH264);
  for (uint32_t i = 0; i < 3; ++i) {
    ASSERT_NE(test::publishPicture(*rings.producer, g, i, monotonicNs()), 0u);
    ASSERT_EQ(stepUntilEncoded(stage), Turn::kEncoded);
  }
  const uint32_t old_generation = rings.producer->generation();
  rings.producer.reset();
  auto again = FrameProducer::attach(*SharedMemory::attachDup(rings.frame_ring.handle()));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_NE(again->generation(), old_generation);
  for (uint32_t i = 3; i < 6; ++i) {
    ASSERT_NE(test::publishPicture(*again, g, i, monotonicNs()), 0u);
    ASSERT_EQ(stepUntilEncoded(stage), Turn::kEncoded) << "frame " << i;
  }
  int64_t pts = 0;
  for (const auto& r : test::drainRecords(*rings.reader)) {
    auto decoded = decoder.decode(r.payload, pts++);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->size(), 1u);
  }
  EXPECT_EQ(stage.counters().frames_in, 6u);
}

// The repeat policy in the stage, on a FakeClock (frame ring waits are 0, so no real time
// decides anything): a 60 Hz static screen whose driver repeats capture forwards.
class StageIdleTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kFps = 60;
  static constexpr uint64_t kRefresh = 1'000'000'000 / kFps;

  void start(RepeatOptions options) {
    auto encoder = Encoder::create(configFor("libx264", kFps));
    ASSERT_TRUE(encoder) << encoder.error().message;
    stage_ = std::make_unique<EncodeStage>(std::move(*encoder), *rings_.consumer, *rings_.packets,
                                           options, &clock_);
    ASSERT_NO_FATAL_FAILURE(fresh(0));
  }
  uint64_t now() const {
    return static_cast<uint64_t>(std::chrono::nanoseconds(clock_.now().time_since_epoch()).count());
  }
  // A new picture, published and encoded within the turn it is there.
  void fresh(uint32_t index) {
    ASSERT_NE(test::publishPicture(*rings_.producer, g_, index, now()), 0u);
    ASSERT_EQ(stage_->step(0), Turn::kEncoded);
  }
  // `ns` of a static screen: a repeat publication on each refresh, a turn after each; counts
  // what the stage encoded in each whole second.
  std::vector<int> staticFor(uint64_t ns, bool publications = true) {
    std::vector<int> per_second(ns / 1'000'000'000, 0);
    const uint64_t start = now();
    for (uint64_t t = kRefresh; t <= ns; t += kRefresh) {
      clock_.advance(std::chrono::nanoseconds(kRefresh));
      if (publications) {
        auto token = rings_.producer->repeatLast(now());
        EXPECT_TRUE(token && *token != 0u);
      }
      const Turn turn = stage_->step(0);
      EXPECT_NE(turn, Turn::kEncoded);
      EXPECT_NE(turn, Turn::kError);
      const size_t second = (now() - start - 1) / 1'000'000'000;
      if (turn != Turn::kRepeated) continue;
      repeat_times_.push_back(now());
      if (second < per_second.size()) ++per_second[second];
    }
    return per_second;
  }

  FakeClock clock_;
  abi::FrameGeometry g_ = *makeGeometry(abi::PixelFormat::kI420, 320, 240);
  test::Rings rings_ = test::makeRings(g_);
  std::unique_ptr<EncodeStage> stage_;
  std::vector<uint64_t> repeat_times_;  // of every repeat staticFor() saw
};

// Full rate for the settle time, the keep-alive rate after; a new picture is encoded in the
// first turn it is there, and the full rate comes back with it.
TEST_F(StageIdleTest, SettlesAtTheFullRateThenKeepsAliveAndANewPictureGoesOutAtOnce) {
  ASSERT_NO_FATAL_FAILURE(start({.idle_fps = 5, .settle_ns = 1'000'000'000}));
  auto n = staticFor(4'000'000'000);
  EXPECT_GE(n[0], 59) << "every refresh while the picture settles";
  for (size_t s = 1; s < n.size(); ++s) EXPECT_EQ(n[s], 5) << "second " << s;
  EXPECT_GT(stage_->counters().repeats_skipped, 150u);
  auto records = test::drainRecords(*rings_.reader);
  ASSERT_EQ(records.size(), 1u + n[0] + 15u);

  clock_.advance(std::chrono::milliseconds(7));  // between two keep-alive repeats
  const uint64_t capture = now();
  ASSERT_NO_FATAL_FAILURE(fresh(1));
  records = test::drainRecords(*rings_.reader);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].header.capture_time_ns, capture);
  EXPECT_EQ(records[0].header.flags & abi::kRecordFlagKeyframe, 0u);
  n = staticFor(2'000'000'000);
  EXPECT_GE(n[0], 59) << "the new picture settles at the full rate again";
  EXPECT_EQ(n[1], 5);
}

// Capture forwards nothing (restarting, or a source without repeat publications): the stage's
// own timer follows the same policy.
TEST_F(StageIdleTest, TheTimerFollowsThePolicyWithoutPublications) {
  ASSERT_NO_FATAL_FAILURE(start({.idle_fps = 2, .settle_ns = 1'000'000'000}));
  const uint64_t fresh_at = now();
  const auto n = staticFor(4'000'000'000, false);
  EXPECT_GE(n[0], 57);
  // After the settle time the repeats are 500 ms apart (seen on turns a refresh apart).
  std::vector<uint64_t> idle;
  for (uint64_t t : repeat_times_)
    if (t > fresh_at + 1'000'000'000) idle.push_back(t);
  ASSERT_GE(idle.size(), 5u);
  EXPECT_LE(idle[0] - (fresh_at + 1'000'000'000), 500'000'000u + kRefresh);
  for (size_t i = 1; i < idle.size(); ++i) {
    EXPECT_GE(idle[i] - idle[i - 1], 500'000'000u - kRefresh) << i;
    EXPECT_LE(idle[i] - idle[i - 1], 500'000'000u + kRefresh) << i;
  }
  EXPECT_EQ(stage_->counters().repeats_skipped, 0u);
}

// A keyframe request while idle is served in the next turn by an IDR repeat, without waiting for
// the keep-alive repeat, and starts the settle time over (a new viewer starts at the full rate).
TEST_F(StageIdleTest, AKeyframeRequestWhileIdleIsServedAtOnce) {
  ASSERT_NO_FATAL_FAILURE(start({.idle_fps = 2, .settle_ns = 1'000'000'000}));
  staticFor(3'000'000'000);
  test::drainRecords(*rings_.reader);
  clock_.advance(std::chrono::milliseconds(100));  // a keep-alive repeat is 400 ms away
  stage_->requestKeyframe();
  ASSERT_EQ(stage_->step(0), Turn::kRepeated);
  auto records = test::drainRecords(*rings_.reader);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(records[0].header.flags & abi::kRecordFlagKeyframe, 0u);
  EXPECT_EQ(records[0].header.capture_time_ns, now());
  auto info = parseAccessUnit(Codec::kH264, records[0].payload);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->decodableAlone(Codec::kH264)) << "an IDR with parameter sets";
  EXPECT_EQ(stage_->step(0), Turn::kIdle) << "one IDR per request";
  // The same with a repeat publication there at the time: it carries the IDR.
  clock_.advance(std::chrono::milliseconds(100));
  stage_->requestKeyframe();
  auto token = rings_.producer->repeatLast(now());
  ASSERT_TRUE(token && *token != 0u);
  ASSERT_EQ(stage_->step(0), Turn::kRepeated);
  records = test::drainRecords(*rings_.reader);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(records[0].header.flags & abi::kRecordFlagKeyframe, 0u);
  const auto n = staticFor(3'000'000'000);
  EXPECT_GE(n[0], 59) << "the full rate for the settle time after the request";
  EXPECT_EQ(n[1], 2) << "then the keep-alive rate again";
  EXPECT_EQ(n[2], 2);
  EXPECT_EQ(test::drainRecords(*rings_.reader).size(), static_cast<size_t>(n[0] + n[1] + n[2]));
}

// --idle-fps 0: every repeat publication and every timer repeat is encoded, as before the policy.
TEST_F(StageIdleTest, IdleFpsZeroKeepsTheFullRate) {
  ASSERT_NO_FATAL_FAILURE(start({.idle_fps = 0, .settle_ns = 1'000'000'000}));
  auto n = staticFor(3'000'000'000);
  for (size_t s = 1; s < n.size(); ++s) EXPECT_EQ(n[s], 60) << "second " << s;
  EXPECT_EQ(stage_->counters().repeats_skipped, 0u);
  n = staticFor(2'000'000'000, false);
  EXPECT_GE(n[1], 59);
}

// Repeats add no stage time: on the FakeClock a new frame's stage time is 0 (the clock stands
// while it encodes); a repeat measured from the last take would show 16 ms or more.
TEST_F(StageIdleTest, RepeatsAddNoStageTime) {
  ASSERT_NO_FATAL_FAILURE(start({.idle_fps = 5, .settle_ns = 1'000'000'000}));
  staticFor(2'000'000'000);
  abi::WorkerStatusPage page{};
  stage_->publish(page, now());
  EXPECT_EQ(page.stage_p99_ns, 0u);
  EXPECT_GT(page.fps_milli, 0u) << "repeats count for fps";
}

// Why the settle time is a second: how a static picture's decoded quality develops over the
// full-rate repeats after it (x264 spends each repeat's bits on what is still wrong), for a
// desktop-like picture and for noise (the worst case: far more than one frame's VBV can carry).
// Asserted: the repeats improve the picture and the keep-alive repeats keep that quality.
TEST_F(StageIdleTest, FullRateRepeatsRefineTheStaticPictureWithinTheSettleTime) {
  for (const auto pattern : {test::Pattern::kMoving, test::Pattern::kNoise}) {
    const auto g = *makeGeometry(abi::PixelFormat::kI420, 1280, 720);
    auto rings = test::makeRings(g);
    auto encoder = Encoder::create(configFor("libx264", kFps));
    ASSERT_TRUE(encoder) << encoder.error().message;
    EncodeStage stage(std::move(*encoder), *rings.consumer, *rings.packets,
                      {.idle_fps = 2, .settle_ns = 1'000'000'000}, &clock_);
    ASSERT_NE(test::publishPicture(*rings.producer, g, 5, now(), pattern), 0u);
    ASSERT_EQ(stage.step(0), Turn::kEncoded);
    std::vector<std::byte> drawn(*framePayloadSize(g));
    test::drawPicture(g, drawn, 5, pattern);
    const auto expected = test::expectedLuma(g, drawn);
    Decoder decoder(Codec::kH264);
    std::vector<double> error;  // mean abs luma difference of each decoded unit, in order
    std::vector<uint64_t> at;   // ms after the new picture
    const uint64_t start = now();
    auto drain = [&] {
      for (const auto& r : test::drainRecords(*rings.reader)) {
        auto decoded = decoder.decode(r.payload, static_cast<int64_t>(r.header.frame_number));
        ASSERT_TRUE(decoded && decoded->size() == 1u);
        error.push_back(test::meanAbsDiff((*decoded)[0].luma, expected));
        at.push_back((now() - start) / 1'000'000);
      }
    };
    drain();
    for (uint64_t t = kRefresh; t <= 3'000'000'000; t += kRefresh) {
      clock_.advance(std::chrono::nanoseconds(kRefresh));
      auto token = rings.producer->repeatLast(now());
      ASSERT_TRUE(token && *token != 0u);
      stage.step(0);
      drain();
    }
    ASSERT_GT(error.size(), 62u);
    size_t settled = 0;  // the last unit within the settle time
    while (settled + 1 < at.size() && at[settled + 1] <= 1000) ++settled;
    std::string curve;
    for (size_t i :
         {size_t{0}, size_t{1}, size_t{5}, size_t{15}, size_t{30}, settled, error.size() - 1})
      curve += fmt::format(" unit {} ({} ms) {:.2f};", i, at[i], error[i]);
    test::figure(fmt::format("static {} 1280x720 libx264 8 Mbit/s 60 fps: luma mean abs diff{}",
                             pattern == test::Pattern::kNoise ? "noise" : "desktop-like", curve));
    EXPECT_LE(error[settled], error[0]) << "the full-rate repeats refine the picture";
    EXPECT_LE(error.back(), error[settled] + 0.5) << "keep-alive repeats keep the quality";
    EXPECT_EQ(at.size() - settled - 1, 4u) << "2 fps over the last 2 s";
  }
}

// The stage gives every slot back when it goes away.
TEST(StageTest, DestructionReleasesHeldSlots) {
  const auto g = *makeGeometry(abi::PixelFormat::kI420, 320, 240);
  auto rings = test::makeRings(g);
  {
    auto encoder = Encoder::create(configFor("libx264"));
    ASSERT_TRUE(encoder);
    EncodeStage stage(std::move(*encoder), *rings.consumer, *rings.packets);
    ASSERT_NE(test::publishPicture(*rings.producer, g, 0, monotonicNs()), 0u);
    ASSERT_EQ(stepUntilEncoded(stage), Turn::kEncoded);
    EXPECT_EQ(rings.consumer->heldCount(), 1u);
  }
  EXPECT_EQ(rings.consumer->heldCount(), 0u);
}

}  // namespace
}  // namespace funkhaus::encode
