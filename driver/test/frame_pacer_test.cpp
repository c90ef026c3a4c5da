// FramePacer on made-up time: damage after an idle spell is grabbed at once, continuous damage
// is grabbed at the refresh rate and no faster, a static screen repeats at every tick.
#include "funkhaus/vdisplay/frame_pacer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace funkhaus::vdisplay {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kPeriod = 1'000'000'000'000ull / 60'000;  // 60 Hz: 16.67 ms
constexpr uint64_t kStart = 1'000 * kMs;

using Action = FramePacer::Action;

// A monitor's first frame at kStart, as XvfbMonitor::firstFrame does it.
FramePacer started() {
  FramePacer p;
  p.setPeriod(kPeriod);
  p.grabbed(kStart);
  return p;
}

// Runs the pacer like the driver loop does: it sleeps until nextDueNs(), rounded up to whole
// milliseconds as poll's timeout is (so it wakes up to 1 ms late); grabs complete at once.
// Returns the times of the frames of `kind`.
std::vector<uint64_t> run(FramePacer& p, uint64_t from, uint64_t until, bool damaged, Action kind) {
  std::vector<uint64_t> times;
  for (uint64_t now = from; now < until;) {
    if (p.decide(now, damaged, false) == kind) times.push_back(now);
    const uint64_t due = p.nextDueNs(damaged);
    now += due > now ? (due - now + kMs - 1) / kMs * kMs : kMs;
  }
  return times;
}

TEST(FramePacer, DamageAfterAnIdleSpellIsGrabbedAtOnce) {
  FramePacer p = started();
  // Idle for 100 ms: repeats at the ticks.
  const auto repeats = run(p, kStart, kStart + 100 * kMs, false, Action::kRepeat);
  ASSERT_FALSE(repeats.empty());
  const uint64_t last_tick = repeats.back();
  const uint64_t next_tick = p.nextDueNs(false);
  EXPECT_GT(next_tick, last_tick);
  EXPECT_LE(next_tick, last_tick + kPeriod);
  // The screen changes 3 ms after a tick: the grab is due at once, not at the next tick.
  const uint64_t damage = last_tick + 3 * kMs;
  EXPECT_LE(p.nextDueNs(true), damage);
  EXPECT_EQ(p.decide(damage, true, false), Action::kGrab);
  EXPECT_LT(damage, next_tick);
  // The next tick is a period after that grab: no repeat 14 ms after it.
  EXPECT_EQ(p.nextDueNs(false), damage + kPeriod);
  EXPECT_EQ(p.decide(next_tick, false, false), Action::kNone);
  EXPECT_EQ(p.decide(damage + kPeriod, false, false), Action::kRepeat);
}

TEST(FramePacer, DamageSoonAfterAGrabWaitsOutTheRefreshInterval) {
  FramePacer p = started();
  EXPECT_EQ(p.decide(kStart + 5 * kMs, true, false), Action::kNone);
  EXPECT_EQ(p.nextDueNs(true), kStart + kPeriod);
  EXPECT_EQ(p.decide(kStart + kPeriod - 1, true, false), Action::kNone);
  EXPECT_EQ(p.decide(kStart + kPeriod, true, false), Action::kGrab);
}

TEST(FramePacer, ContinuousDamageIsGrabbedAtTheRefreshRateAndNoFaster) {
  FramePacer p = started();
  // The screen changes all the time for 2 s (damage is always pending).
  const uint64_t until = kStart + 2'000 * kMs;
  const auto grabs = run(p, kStart + kMs, until, true, Action::kGrab);
  // At most one frame per period over the run (the first frame at kStart counts too), and the
  // full rate: the loop's late wake-ups do not lower it.
  const uint64_t periods = (until - kStart) / kPeriod;
  EXPECT_LE(grabs.size() + 1, periods + 1);
  EXPECT_GE(grabs.size() + 1, periods - 1);
  for (size_t i = 1; i < grabs.size(); ++i) EXPECT_GE(grabs[i] - grabs[i - 1], kPeriod - kMs);
  for (size_t i = 10; i < grabs.size(); ++i)
    EXPECT_GE(grabs[i] - grabs[i - 10], 10 * kPeriod - kMs);
  // No repeats in between.
  FramePacer q = started();
  EXPECT_TRUE(run(q, kStart + kMs, until, true, Action::kRepeat).empty());
}

TEST(FramePacer, LateWakeUpsDoNotAddFrames) {
  FramePacer p = started();
  // The loop wakes 5 ms late for every grab: grabs stay a period apart on average, one each.
  uint64_t now = kStart;
  for (int i = 0; i < 600; ++i) {
    now = p.nextDueNs(true) + 5 * kMs;
    ASSERT_EQ(p.decide(now, true, false), Action::kGrab);
  }
  EXPECT_LE(now - kStart, 600 * kPeriod + 5 * kMs);
  EXPECT_GE(now - kStart, 600 * kPeriod);
  // A wake-up more than a period late starts a new cadence instead of catching up.
  now = p.nextDueNs(true) + 3 * kPeriod;
  EXPECT_EQ(p.decide(now, true, false), Action::kGrab);
  EXPECT_EQ(p.nextDueNs(true), now + kPeriod);
  EXPECT_EQ(p.decide(now + kMs, true, false), Action::kNone);
}

TEST(FramePacer, StaticScreenRepeatsAtEveryTick) {
  FramePacer p = started();
  const auto repeats = run(p, kStart, kStart + 1'000 * kMs, false, Action::kRepeat);
  // 60 per second, a period apart (as before: repeats keep the monitor's refresh rate).
  EXPECT_GE(repeats.size(), 59u);
  EXPECT_LE(repeats.size(), 60u);
  for (size_t i = 1; i < repeats.size(); ++i) {
    EXPECT_GE(repeats[i] - repeats[i - 1], kPeriod - kMs);
    EXPECT_LE(repeats[i] - repeats[i - 1], kPeriod + kMs);
  }
  EXPECT_GE(repeats.front(), kStart + kPeriod);
  EXPECT_LT(repeats.front(), kStart + kPeriod + kMs);
}

TEST(FramePacer, AGrabInFlightSkipsTicksAndStartsNothing) {
  FramePacer p = started();
  EXPECT_EQ(p.decide(kStart + kPeriod, true, true), Action::kNone);
  EXPECT_EQ(p.decide(kStart + kPeriod, false, true), Action::kNone);
  // The skipped tick is gone: the next one is a period later.
  EXPECT_EQ(p.nextDueNs(false), kStart + 2 * kPeriod);
  // Once the grab is done, pending damage is grabbed at once (its interval has passed).
  EXPECT_EQ(p.decide(kStart + kPeriod + kMs, true, false), Action::kGrab);
}

TEST(FramePacer, TickAtMakesTheNextFrameDueNow) {
  FramePacer p = started();
  p.tickAt(kStart + kMs);  // an X server restarted 1 ms after a grab
  EXPECT_EQ(p.nextDueNs(true), kStart + kMs);
  EXPECT_EQ(p.decide(kStart + kMs, true, false), Action::kGrab);
}

}  // namespace
}  // namespace funkhaus::vdisplay
