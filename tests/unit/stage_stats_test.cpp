// StageStats on synthetic timestamps: fps over the last second, percentiles over the window.
#include "funkhaus/common/stage_stats.h"

#include <gtest/gtest.h>

namespace funkhaus {
namespace {

constexpr uint64_t kMs = 1'000'000;

TEST(StageStats, SixtyFramesASecondWithKnownLatencies) {
  StageStats stats;
  const uint64_t t0 = 100'000 * kMs;
  // 120 frames at 60 fps; latency 1..100 ms repeating: p50 ~ 50 ms, p99 ~ 99 ms.
  for (uint64_t i = 0; i < 120; ++i) {
    const uint64_t done = t0 + i * 1000 * kMs / 60;
    stats.onFrame(done - (1 + i % 100) * kMs, done);
  }
  const auto s = stats.snapshot(t0 + 119 * 1000 * kMs / 60);
  EXPECT_EQ(s.samples, 120u);
  EXPECT_NEAR(static_cast<double>(s.fps_milli), 60'000.0, 1'000.0);
  EXPECT_NEAR(static_cast<double>(s.p50_ns) / kMs, 41.0, 10.0);
  EXPECT_GE(s.p99_ns, 95 * kMs);
  EXPECT_LE(s.p99_ns, 100 * kMs);
}

TEST(StageStats, OldSamplesLeaveTheWindowAndFpsDropsToZero) {
  StageStats stats(2'000 * kMs);
  for (uint64_t i = 0; i < 30; ++i) stats.onFrame(i * 10 * kMs + 1, i * 10 * kMs + 5 * kMs);
  auto s = stats.snapshot(300 * kMs);
  EXPECT_EQ(s.samples, 30u);
  EXPECT_EQ(s.p50_ns, 5 * kMs - 1);
  s = stats.snapshot(10'000 * kMs);
  EXPECT_EQ(s.samples, 0u);
  EXPECT_EQ(s.fps_milli, 0u);
  EXPECT_EQ(s.p99_ns, 0u);
}

TEST(StageStats, UnknownCaptureTimeCountsForFpsOnly) {
  StageStats stats;
  stats.onFrame(0, 10 * kMs);
  stats.onFrame(50 * kMs, 20 * kMs);  // "captured" after it was done: garbage from a peer
  const auto s = stats.snapshot(20 * kMs);
  EXPECT_EQ(s.samples, 0u);
  EXPECT_EQ(s.fps_milli, 2000u);
}

TEST(StageStats, PublishWritesTheStatusPageAtMostEveryQuarterSecond) {
  StageStats stats;
  abi::WorkerStatusPage page{};
  stats.onFrame(1 * kMs, 3 * kMs);
  stats.publish(page, 3 * kMs);
  EXPECT_EQ(page.latency_p50_ns, 2 * kMs);
  EXPECT_EQ(page.fps_milli, 1000u);
  stats.onFrame(4 * kMs, 14 * kMs);
  stats.onFrame(4 * kMs, 14 * kMs);
  stats.publish(page, 14 * kMs);
  EXPECT_EQ(page.latency_p50_ns, 2 * kMs) << "not yet: within 250 ms of the last publish";
  stats.publish(page, 300 * kMs);
  EXPECT_EQ(page.latency_p50_ns, 10 * kMs);
}

TEST(StageStats, StageTimeIsKeptApartFromCaptureLatency) {
  StageStats stats;
  abi::WorkerStatusPage page{};
  // Captured 10 ms before done; this stage took its input 1..4 ms before done.
  for (uint64_t i = 0; i < 4; ++i) {
    const uint64_t done = (100 + i * 20) * kMs;
    stats.onFrame(done - 10 * kMs, done, done - (1 + i) * kMs);
  }
  stats.onFrame(0, 200 * kMs, 0);                  // neither known
  stats.onFrame(190 * kMs, 200 * kMs, 300 * kMs);  // a start after done is garbage
  const auto s = stats.snapshot(200 * kMs);
  EXPECT_EQ(s.samples, 5u);
  EXPECT_EQ(s.p50_ns, 10 * kMs);
  EXPECT_EQ(s.stage_samples, 4u);
  EXPECT_EQ(s.stage_p50_ns, 2 * kMs);
  EXPECT_EQ(s.stage_p99_ns, 4 * kMs);
  stats.publish(page, 200 * kMs);
  EXPECT_EQ(page.stage_p50_ns, 2 * kMs);
  EXPECT_EQ(page.stage_p99_ns, 4 * kMs);
  EXPECT_EQ(page.latency_p50_ns, 10 * kMs);
}

}  // namespace
}  // namespace funkhaus
