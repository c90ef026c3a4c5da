// The A/V sync click: the sample grid on CLOCK_MONOTONIC, which samples carry the click, and the
// source's frames (their timestamps, pacing and the skip after a long stall).
#include "funkhaus/audio/sync_click.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace funkhaus::audio {
namespace {

constexpr uint64_t kMs = 1'000'000;

TEST(SyncClick, TheSampleGridIsExactOnWholeMilliseconds) {
  EXPECT_EQ(sampleTimeNs(0), 0u);
  EXPECT_EQ(sampleTimeNs(1), 20'833u);
  EXPECT_EQ(sampleTimeNs(48), 1 * kMs);
  EXPECT_EQ(sampleTimeNs(48 * 123'456'789ull), 123'456'789 * kMs);
  EXPECT_EQ(sampleAtOrAfter(1 * kMs), 48u);
  EXPECT_EQ(sampleAtOrAfter(1 * kMs + 1), 49u);
  EXPECT_EQ(sampleAtOrAfter(1), 1u);
  for (uint64_t n : {0ull, 1ull, 2ull, 47ull, 1'000'003ull, 1ull << 40})
    EXPECT_EQ(sampleAtOrAfter(sampleTimeNs(n)), n) << n;
}

TEST(SyncClick, TheClickStartsExactlyAtEachMultipleOfThePeriod) {
  const uint64_t period = 1000 * 48;  // 1 s
  for (uint64_t mark : {uint64_t{0}, period, 7 * period, 86'400 * period}) {
    EXPECT_EQ(syncClickSample(mark, period), 0.0f);  // sin(0): the click's first sample
    EXPECT_GT(syncClickSample(mark + 3, period), 0.1f);
    EXPECT_EQ(syncClickSample(mark + kSyncClickSamples, period), 0.0f);  // 5 ms later: over
    if (mark > 0) {
      EXPECT_EQ(syncClickSample(mark - 1, period), 0.0f);  // silence before
    }
  }
  // 1 kHz at -6 dBFS peak: five whole periods, peaks of 0.5.
  float peak = 0;
  double sum = 0;
  for (uint64_t i = 0; i < kSyncClickSamples; ++i) {
    peak = std::max(peak, std::fabs(syncClickSample(period + i, period)));
    sum += syncClickSample(period + i, period);
  }
  EXPECT_NEAR(peak, 0.5, 1e-3);
  EXPECT_NEAR(sum, 0.0, 1e-3);
  EXPECT_EQ(syncClickSample(period + 10, 0), 0.0f);
}

TEST(SyncClick, FramesAreStampedWithTheirFirstSampleAndReadyWhenTheyHaveEnded) {
  // 5 ms frames of 240 samples, stereo, a 250 ms period, starting at 1000.0021 s.
  const uint64_t start = 1000 * 1000 * kMs + 2'100'000;
  SyncClickSource source(250, 2, 240, start);
  // The first whole frame after the start: 1000.005..1000.010 s, ready at 1000.010 s.
  EXPECT_EQ(source.nextReadyNs(), 1000 * 1000 * kMs + 10 * kMs);
  std::vector<float> pcm(480);
  SyncClickSource::Frame frame;
  EXPECT_FALSE(source.next(source.nextReadyNs() - 1, pcm, &frame));
  uint64_t now = source.nextReadyNs();
  ASSERT_TRUE(source.next(now, pcm, &frame));
  EXPECT_EQ(frame.capture_ns, 1000 * 1000 * kMs + 5 * kMs);
  EXPECT_TRUE(frame.discontinuity);  // the first frame starts the stream
  // One second of frames, each taken when ready: the click is in the frames stamped at each
  // multiple of 250 ms, starting at their first sample, on both channels.
  std::vector<uint64_t> clicks;
  for (int k = 0; k < 200; ++k) {
    now = source.nextReadyNs();
    ASSERT_TRUE(source.next(now, pcm, &frame));
    EXPECT_FALSE(frame.discontinuity);
    EXPECT_EQ(frame.capture_ns % (5 * kMs), 0u);
    bool any = false;
    for (size_t i = 0; i < pcm.size(); ++i) any = any || pcm[i] != 0;
    if (any) {
      clicks.push_back(frame.capture_ns);
      EXPECT_EQ(pcm[0], 0.0f);  // sin(0) at the mark itself
      EXPECT_NE(pcm[2 * 3], 0.0f);
      EXPECT_EQ(pcm[2 * 3], pcm[2 * 3 + 1]);
    }
  }
  ASSERT_EQ(clicks.size(), 4u);
  for (size_t k = 0; k < clicks.size(); ++k)
    EXPECT_EQ(clicks[k], 1000 * 1000 * kMs + (k + 1) * 250 * kMs) << k;
  // Several frames ready at once are taken one by one, in order.
  const uint64_t before = frame.capture_ns;
  now += 20 * kMs;
  int taken = 0;
  while (source.next(now, pcm, &frame)) ++taken;
  EXPECT_EQ(taken, 4);
  EXPECT_EQ(frame.capture_ns, before + 4 * 5 * kMs);
  // A stall of a second: the source skips to the frame that ended last, flagged.
  now += 1000 * kMs;
  ASSERT_TRUE(source.next(now, pcm, &frame));
  EXPECT_TRUE(frame.discontinuity);
  EXPECT_LE(frame.capture_ns + 5 * kMs, now);
  EXPECT_GT(frame.capture_ns + 10 * kMs, now);
  EXPECT_FALSE(source.next(now, pcm, &frame));
}

}  // namespace
}  // namespace funkhaus::audio
