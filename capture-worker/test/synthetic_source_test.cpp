// The synthetic source writing into a real frame ring (producer and consumer in one process),
// the frame clock, mode fitting and the worker's command line.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/capture/capture_source.h"
#include "funkhaus/capture/capture_worker.h"
#include "funkhaus/capture/frame_clock.h"
#include "funkhaus/capture/synthetic_pattern.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "ring_fixture.h"

namespace funkhaus::capture {
namespace {

using test::makeRing;
using test::plane;
using test::Ring;

TEST(FrameClock, NumbersFollowMonotonicTimeOnAFixedGrid) {
  const FrameClock c60(60);
  EXPECT_EQ(c60.frameAt(0), 0u);
  EXPECT_EQ(c60.frameAt(16'666'666), 0u);
  EXPECT_EQ(c60.frameAt(16'666'667), 1u);
  EXPECT_EQ(c60.frameAt(1'000'000'000), 60u);
  for (uint64_t n : {0ull, 1ull, 59ull, 60ull, 123456789ull, 1ull << 40}) {
    EXPECT_EQ(c60.frameAt(c60.startOf(n)), n);
    EXPECT_EQ(c60.frameAt(c60.startOf(n) - (n ? 1 : 0)), n ? n - 1 : 0);
  }
  // No overflow near the end of the clock (years of uptime at 240 fps).
  const FrameClock c240(240);
  EXPECT_EQ(
      c240.frameAt(UINT64_MAX),
      static_cast<uint64_t>(static_cast<unsigned __int128>(UINT64_MAX) * 240 / 1'000'000'000));
  const FrameClock c1(1);
  EXPECT_EQ(c1.startOf(5), 5'000'000'000u);
}

TEST(FitI420, KeepsSizeWhenItFitsAndScalesDownKeepingAspect) {
  const uint64_t hd = *framePayloadSize(*makeGeometry(abi::PixelFormat::kI420, 1920, 1080));
  auto same = fitI420(1920, 1080, 16384, 16384, hd);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->width, 1920u);
  EXPECT_EQ(same->height, 1080u);
  // A 4K root into 1080p slots: scaled down to at most 1920x1080, 16:9 kept.
  auto down = fitI420(3840, 2160, 16384, 16384, hd);
  ASSERT_TRUE(down.ok());
  EXPECT_LE(*framePayloadSize(*down), hd);
  EXPECT_GE(down->width, 1800u);
  EXPECT_NEAR(double(down->width) / down->height, 16.0 / 9, 0.01);
  EXPECT_EQ(down->width % 2, 0u);
  EXPECT_EQ(down->height % 2, 0u);
  // Bounded by a box.
  auto boxed = fitI420(1280, 1024, 640, 480, UINT64_MAX);
  ASSERT_TRUE(boxed.ok());
  EXPECT_LE(boxed->width, 640u);
  EXPECT_LE(boxed->height, 480u);
  EXPECT_NEAR(double(boxed->width) / boxed->height, 1.25, 0.02);
  // Odd sizes round down to even.
  auto odd = fitI420(1367, 769, 16384, 16384, UINT64_MAX);
  EXPECT_EQ(odd->width, 1366u);
  EXPECT_EQ(odd->height, 768u);
  EXPECT_FALSE(fitI420(1920, 1080, 16384, 16384, 10).ok());
  EXPECT_FALSE(fitI420(0, 1080, 16384, 16384, hd).ok());
}

TEST(SyntheticSource, WritesValidI420WithIncreasingFrameNumbers) {
  Ring ring = makeRing(640, 360);
  SourceFailure failure{};
  auto source = CaptureSource::create({}, ring.producer.layout().payload_capacity, &failure);
  ASSERT_FALSE(source.ok()) << "1920x1080 must not fit a 640x360 ring";
  EXPECT_EQ(failure, SourceFailure::kBadConfig);
  EXPECT_NE(source.error().message.find("slots hold"), std::string::npos) << source.error().message;

  SourceConfig config;
  config.width = 640;
  config.height = 360;
  source = CaptureSource::create(config, ring.producer.layout().payload_capacity, &failure);
  ASSERT_TRUE(source.ok()) << source.error().message;
  const FrameClock clock(60);
  uint64_t last_number = 0;
  int frames = 0;
  const uint64_t start = monotonicNs();
  while (frames < 20) {
    const uint64_t now = monotonicNs();
    const uint64_t number = clock.frameAt(now);
    if (frames > 0 && number == last_number) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    auto outcome = (*source)->capture(ring.producer, number, now);
    ASSERT_TRUE(outcome.ok());
    ASSERT_EQ(outcome->kind, CaptureOutcome::Kind::kPublished);
    EXPECT_FALSE(outcome->new_mode.has_value()) << "the ring was made for this mode";
    FrameConsumer::Frame f;
    ASSERT_EQ(ring.consumer.acquireLatest(0, &f), FrameConsumer::Status::kFrame);
    EXPECT_EQ(f.geometry.format, static_cast<uint32_t>(abi::PixelFormat::kI420));
    EXPECT_EQ(f.geometry.width, 640u);
    EXPECT_EQ(f.geometry.height, 360u);
    EXPECT_EQ(f.payload.size(), *framePayloadSize(f.geometry));
    EXPECT_EQ(outcome->bytes, f.payload.size());
    EXPECT_EQ(f.capture_time_ns, now);
    auto data = readBarcode(plane(f, 0), f.geometry.stride[0], 640, 360);
    ASSERT_TRUE(data.ok()) << data.error().message;
    EXPECT_EQ(data->capture_ns, now);
    EXPECT_EQ(data->frame_number, clock.frameAt(now));
    if (frames > 0) {
      EXPECT_GT(data->frame_number, last_number);
    }
    // Neutral chroma under the band; the picture is not flat elsewhere.
    EXPECT_EQ(plane(f, 1)[0], 128);
    EXPECT_EQ(plane(f, 2)[0], 128);
    const uint8_t* bottom = plane(f, 0) + size_t{f.geometry.stride[0]} * 300;
    EXPECT_NE(std::memcmp(bottom, bottom + 40, 200), 0);
    last_number = data->frame_number;
    ring.consumer.release(f);
    ++frames;
  }
  const double seconds = (monotonicNs() - start) / 1e9;
  std::printf("[figures] 20 synthetic frames at 60 fps took %.3f s\n", seconds);
}

TEST(SyncFlash, TheFirstFrameAtOrAfterEachMultipleOfThePeriodFlashes) {
  constexpr uint64_t kSecond = 1'000'000'000;
  // The frame exactly on the multiple, or the first one after it.
  EXPECT_TRUE(isSyncFlash(5 * kSecond - 1, 5 * kSecond, kSecond));
  EXPECT_TRUE(isSyncFlash(5 * kSecond - 16'666'667, 5 * kSecond + 3, kSecond));
  // The frame after the flash, and frames within a period.
  EXPECT_FALSE(isSyncFlash(5 * kSecond, 5 * kSecond + 16'666'667, kSecond));
  EXPECT_FALSE(isSyncFlash(5 * kSecond + 1, 6 * kSecond - 1, kSecond));
  // A late frame that skipped a whole period still flashes once.
  EXPECT_TRUE(isSyncFlash(5 * kSecond - 1, 7 * kSecond + 2, kSecond));
  // The first frame flashes only when it falls on a multiple.
  EXPECT_TRUE(isSyncFlash(std::nullopt, 3 * kSecond, kSecond));
  EXPECT_FALSE(isSyncFlash(std::nullopt, 3 * kSecond + 1, kSecond));
  // Time that does not advance, and no period, never flash.
  EXPECT_FALSE(isSyncFlash(5 * kSecond, 5 * kSecond, kSecond));
  EXPECT_FALSE(isSyncFlash(0, 5 * kSecond, 0));
  // A 60 fps grid over 10 s with a 250 ms period: one flash per period, on the grid frame at or
  // just after the multiple.
  std::optional<uint64_t> previous;
  std::vector<uint64_t> flashes;
  for (uint64_t n = 0; n <= 600; ++n) {
    const uint64_t t = 1'000 * kSecond + n * kSecond / 60 + 123;  // a little late, as real frames
    if (isSyncFlash(previous, t, kSecond / 4)) flashes.push_back(t);
    previous = t;
  }
  ASSERT_EQ(flashes.size(), 40u);
  for (size_t k = 0; k < flashes.size(); ++k) {
    const uint64_t mark = 1'000 * kSecond + (k + 1) * kSecond / 4;
    EXPECT_GE(flashes[k], mark) << k;
    EXPECT_LT(flashes[k], mark + kSecond / 60 + 123) << k;
  }
}

TEST(SyntheticSource, TheSyncPatternIsDarkWithAWhiteFrameAtEachMultiple) {
  Ring ring = makeRing(320, 240);
  SourceConfig config;
  config.width = 320;
  config.height = 240;
  config.sync_flash_ms = 100;
  auto source = CaptureSource::create(config, ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok()) << source.error().message;
  const uint64_t base = 77 * 1'000'000'000ull;
  // Frames at base - 20 ms, base + 5 ms (the flash), base + 30 ms, base + 120 ms (the next).
  const std::pair<uint64_t, bool> frames[] = {{base - 20'000'000, false},
                                              {base + 5'000'000, true},
                                              {base + 30'000'000, false},
                                              {base + 120'000'000, true}};
  uint64_t number = 0;
  for (const auto& [t, white] : frames) {
    auto outcome = (*source)->capture(ring.producer, ++number, t);
    ASSERT_TRUE(outcome.ok());
    ASSERT_EQ(outcome->kind, CaptureOutcome::Kind::kPublished);
    FrameConsumer::Frame f;
    ASSERT_EQ(ring.consumer.acquireLatest(0, &f), FrameConsumer::Status::kFrame);
    EXPECT_EQ(f.capture_time_ns, t);
    // Below the barcode band: flat at the flash's or the dark level, neutral chroma.
    const uint8_t* row = plane(f, 0) + size_t{f.geometry.stride[0]} * 200;
    for (uint32_t x = 0; x < 320; x += 7)
      ASSERT_EQ(row[x], white ? kSyncFlashLuma : kSyncDarkLuma) << number << " " << x;
    EXPECT_EQ(plane(f, 1)[size_t{f.geometry.stride[1]} * 100 + 50], 128);
    auto data = readBarcode(plane(f, 0), f.geometry.stride[0], 320, 240);
    ASSERT_TRUE(data.ok()) << data.error().message;
    EXPECT_EQ(data->frame_number, number);
    ring.consumer.release(f);
  }
}

TEST(SyntheticSource, TheMotionChangesThePicture) {
  auto p = SyntheticPattern::create(320, 180);
  ASSERT_TRUE(p.ok());
  std::vector<std::byte> a(p->frameBytes()), b(p->frameBytes());
  p->render({10, 1}, a.data());
  p->render({11, 1}, b.data());
  const auto layout = barcodeLayout(320, 180);
  // Rows below the barcode differ between consecutive frames.
  const size_t row = size_t{layout->band_height + 10} * p->geometry().stride[0];
  EXPECT_NE(std::memcmp(a.data() + row, b.data() + row, 320), 0);
  p->render({10, 1}, b.data());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0) << "the picture is a function of n";
}

TEST(SyntheticSource, SetsTheRingModeWhenItDiffers) {
  // A ring made for 1080p with a 720p source: the slots hold it, the mode changes once.
  Ring ring = makeRing(1920, 1080);
  SourceConfig config;
  config.width = 1280;
  config.height = 720;
  auto source = CaptureSource::create(config, ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok());
  const uint32_t generation = ring.producer.generation();
  auto first = (*source)->capture(ring.producer, 1, monotonicNs());
  ASSERT_TRUE(first->new_mode.has_value());
  EXPECT_EQ(first->new_mode->width, 1280u);
  EXPECT_NE(ring.producer.generation(), generation);
  auto second = (*source)->capture(ring.producer, 2, monotonicNs());
  EXPECT_FALSE(second->new_mode.has_value());
  FrameConsumer::Frame f;
  ASSERT_EQ(ring.consumer.acquireLatest(0, &f), FrameConsumer::Status::kFrame);
  EXPECT_EQ(f.geometry.width, 1280u);
  EXPECT_EQ(readBarcode(plane(f, 0), f.geometry.stride[0], 1280, 720)->frame_number, 2u);
  ring.consumer.release(f);
}

TEST(SyntheticSource, DropsInsteadOfBlockingWhenNoSlotIsFree) {
  Ring ring = makeRing(320, 180, 2);
  SourceConfig config;
  config.width = 320;
  config.height = 180;
  auto source = CaptureSource::create(config, ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok());
  // The consumer holds both slots of a two-slot ring.
  FrameConsumer::Frame held[2];
  for (uint64_t i = 0; i < 2; ++i) {
    ASSERT_EQ((*source)->capture(ring.producer, i, monotonicNs())->kind,
              CaptureOutcome::Kind::kPublished);
    ASSERT_EQ(ring.consumer.acquireLatest(0, &held[i]), FrameConsumer::Status::kFrame);
  }
  const uint64_t before = monotonicNs();
  auto dropped = (*source)->capture(ring.producer, 2, monotonicNs());
  std::printf("[figures] capture with no free slot returned after %.1f us\n",
              (monotonicNs() - before) / 1e3);
  EXPECT_EQ(dropped->kind, CaptureOutcome::Kind::kDropped);
  EXPECT_EQ(abi::atomicLoad(ring.producer.header().dropped), 1u);
  ring.consumer.release(held[0]);
  EXPECT_EQ((*source)->capture(ring.producer, 3, monotonicNs())->kind,
            CaptureOutcome::Kind::kPublished);
  ring.consumer.release(held[1]);
}

TEST(SyntheticSource, FrameCostFigures) {
  auto p = SyntheticPattern::create(1920, 1080);
  ASSERT_TRUE(p.ok());
  std::vector<std::byte> buffer(p->frameBytes());
  constexpr int kFrames = 300;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kFrames; ++i) p->render({static_cast<uint64_t>(i), 1}, buffer.data());
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kFrames;
  std::printf(
      "[figures] synthetic 1920x1080 I420 frame: %.0f us/frame (render + barcode, one "
      "buffer)\n",
      us);
  // Through the ring: four 3 MB slots in turn, a consumer taking and releasing each frame.
  Ring ring = makeRing(1920, 1080);
  SourceConfig config;
  auto source = CaptureSource::create(config, ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok());
  double ring_us = 0;
  for (int i = 0; i < kFrames; ++i) {
    const uint64_t t = monotonicNs();
    auto outcome = (*source)->capture(ring.producer, static_cast<uint64_t>(i), t);
    ring_us += (monotonicNs() - t) / 1e3;
    ASSERT_EQ(outcome->kind, CaptureOutcome::Kind::kPublished);
    FrameConsumer::Frame f;
    ASSERT_EQ(ring.consumer.acquireLatest(0, &f), FrameConsumer::Status::kFrame);
    ring.consumer.release(f);
  }
  std::printf("[figures] synthetic 1920x1080 capture() into a 4-slot ring: %.0f us/frame\n",
              ring_us / kFrames);
  EXPECT_TRUE(readBarcode(reinterpret_cast<const uint8_t*>(buffer.data()), p->geometry().stride[0],
                          1920, 1080)
                  .ok());
}

Result<CaptureOptions> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "funkhaus-capture");
  return parseCaptureOptions(static_cast<int>(args.size()), args.data());
}

TEST(CaptureOptions, DefaultsAndValues) {
  auto d = parse({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->source.kind, SourceKind::kSynthetic);
  EXPECT_EQ(d->source.width, 1920u);
  EXPECT_EQ(d->source.height, 1080u);
  EXPECT_EQ(d->fps, 60u);
  EXPECT_FALSE(d->source.fit_to_size);
  auto x = parse({"--source", "x11", "--width", "1280", "--height", "720", "--fps", "30",
                  "--barcode", "--no-cursor"});
  ASSERT_TRUE(x.ok()) << x.error().message;
  EXPECT_EQ(x->source.kind, SourceKind::kX11);
  EXPECT_TRUE(x->source.fit_to_size);
  EXPECT_TRUE(x->source.stamp_barcode);
  EXPECT_FALSE(x->source.compose_cursor);
  EXPECT_EQ(x->fps, 30u);
  EXPECT_EQ(d->source.sync_flash_ms, 0u);
  auto sync = parse({"--sync-flash-ms", "1000"});
  ASSERT_TRUE(sync.ok()) << sync.error().message;
  EXPECT_EQ(sync->source.sync_flash_ms, 1000u);
}

TEST(CaptureOptions, BadArgumentsAreClearErrors) {
  struct Case {
    std::vector<const char*> args;
    const char* needle;
  } cases[] = {
      {{"--source", "wayland"}, "--source"},
      {{"--fps", "0"}, "--fps"},
      {{"--fps", "241"}, "--fps"},
      {{"--fps", "sixty"}, "--fps"},
      {{"--width", "0"}, "--width"},
      {{"--width", "20000"}, "--width"},
      {{"--width", "641"}, "even"},
      {{"--bogus"}, "bogus"},
      {{"--height"}, "--height"},
      {{"--sync-flash-ms", "0"}, "--sync-flash-ms"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.args);
    ASSERT_FALSE(r.ok()) << c.args[0];
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace funkhaus::capture
