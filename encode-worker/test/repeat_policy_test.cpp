// RepeatPolicy on controlled time: full rate while the picture settles, the keep-alive rate
// after, a new picture starts over, 0 keeps the full rate; publications and the stage's own timer.
#include "funkhaus/encode/repeat_policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace funkhaus::encode {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kT0 = 3600 * kSecond;

// Repeats encoded in each whole second after a new picture at kT0, with a repeat publication on
// every refresh (capture forwarding the driver's repeats at `fps`), as the stage decides them.
std::vector<int> publishedRepeatsPerSecond(uint32_t fps, RepeatOptions options, int seconds) {
  RepeatPolicy policy(fps, options);
  policy.onFresh(kT0);
  std::vector<int> per_second(static_cast<size_t>(seconds), 0);
  const uint64_t refresh = kSecond / fps;
  for (uint64_t t = kT0 + refresh; t < kT0 + static_cast<uint64_t>(seconds) * kSecond;
       t += refresh) {
    EXPECT_GT(policy.timerDue(), t) << "publications on the refresh grid come before the timer";
    if (!policy.publicationDue(t)) continue;
    policy.onRepeat(t);
    ++per_second[(t - kT0) / kSecond];
  }
  return per_second;
}

// The same with no publications at all: the stage's timer alone (a turn every millisecond).
std::vector<int> timedRepeatsPerSecond(uint32_t fps, RepeatOptions options, int seconds) {
  RepeatPolicy policy(fps, options);
  policy.onFresh(kT0);
  std::vector<int> per_second(static_cast<size_t>(seconds), 0);
  for (uint64_t t = kT0; t < kT0 + static_cast<uint64_t>(seconds) * kSecond; t += 1'000'000) {
    if (t < policy.timerDue()) continue;
    policy.onTimedRepeat(t);
    ++per_second[(t - kT0) / kSecond];
  }
  return per_second;
}

TEST(RepeatPolicyTest, PublicationsAtTheFullRateWhileSettlingThenAtTheKeepAliveRate) {
  const auto n = publishedRepeatsPerSecond(60, {.idle_fps = 5, .settle_ns = kSecond}, 4);
  // Every refresh after the new picture within the settle time: 60 of them (60 x 16666666 ns
  // end just before the second is over).
  EXPECT_EQ(n[0], 60);
  for (size_t s = 1; s < n.size(); ++s) EXPECT_EQ(n[s], 5) << "second " << s;
}

TEST(RepeatPolicyTest, TimerAtTheFullRateWhileSettlingThenAtTheKeepAliveRate) {
  const auto n = timedRepeatsPerSecond(60, {.idle_fps = 5, .settle_ns = kSecond}, 4);
  // The first repeat waits two intervals (capture may be late), then one interval apart.
  EXPECT_GE(n[0], 57);
  EXPECT_LE(n[0], 59);
  for (size_t s = 1; s < n.size(); ++s) EXPECT_EQ(n[s], 5) << "second " << s;
}

TEST(RepeatPolicyTest, ANewPictureStartsTheSettleTimeOver) {
  RepeatPolicy policy(60, {.idle_fps = 2, .settle_ns = kSecond});
  policy.onFresh(kT0);
  EXPECT_FALSE(policy.settled(kT0 + kSecond - 1));
  EXPECT_TRUE(policy.settled(kT0 + kSecond));
  policy.onRepeat(kT0 + 2 * kSecond);
  EXPECT_FALSE(policy.publicationDue(kT0 + 2 * kSecond + policy.interval()));
  policy.onFresh(kT0 + 2 * kSecond + 100'000'000);
  EXPECT_FALSE(policy.settled(kT0 + 2 * kSecond + 200'000'000));
  EXPECT_TRUE(policy.publicationDue(kT0 + 2 * kSecond + 100'000'000 + policy.interval()));
  EXPECT_EQ(policy.timerDue(), kT0 + 2 * kSecond + 100'000'000 + 2 * policy.interval());
}

TEST(RepeatPolicyTest, TheKeepAliveCadenceHoldsOnThePublicationGrid) {
  // 2 fps from 60 Hz publications: every 30th refresh, not every 31st (half a frame of slack).
  const auto n = publishedRepeatsPerSecond(60, {.idle_fps = 2, .settle_ns = kSecond}, 6);
  for (size_t s = 1; s < n.size(); ++s) EXPECT_EQ(n[s], 2) << "second " << s;
}

TEST(RepeatPolicyTest, IdleFpsZeroOrAtTheFullRateKeepsTheFullRate) {
  for (uint32_t idle : {0u, 60u, 120u}) {
    const RepeatOptions options{.idle_fps = idle, .settle_ns = kSecond};
    RepeatPolicy policy(60, options);
    policy.onFresh(kT0);
    EXPECT_FALSE(policy.settled(kT0 + 100 * kSecond)) << idle;
    EXPECT_EQ(policy.idleInterval(), policy.interval()) << idle;
    const auto p = publishedRepeatsPerSecond(60, options, 3);
    EXPECT_EQ(p[1], 60) << idle;
    EXPECT_EQ(p[2], 60) << idle;
    const auto t = timedRepeatsPerSecond(60, options, 3);
    EXPECT_EQ(t[1], 60) << idle;
    EXPECT_EQ(t[2], 60) << idle;
  }
}

TEST(RepeatPolicyTest, ASettleTimeOfZeroThinsAtOnce) {
  const auto n = publishedRepeatsPerSecond(60, {.idle_fps = 10, .settle_ns = 0}, 3);
  for (int c : n) EXPECT_EQ(c, 10);
}

// A keyframe request starts the settle time over: the full rate for a second from the request.
TEST(RepeatPolicyTest, AKeyframeRequestStartsTheSettleTimeOver) {
  RepeatPolicy policy(60, {.idle_fps = 2, .settle_ns = kSecond});
  policy.onFresh(kT0);
  const uint64_t t = kT0 + 5 * kSecond;
  EXPECT_TRUE(policy.settled(t));
  policy.onKeyframeRequest(t);
  EXPECT_FALSE(policy.settled(t + kSecond - 1));
  policy.onRepeat(t);  // the IDR
  EXPECT_TRUE(policy.publicationDue(t + policy.interval()));
  EXPECT_EQ(policy.timerDue(), t + 2 * policy.interval());
  EXPECT_TRUE(policy.settled(t + kSecond));
}

// A keyframe repeat (the stage's onRepeat outside the publication grid) restarts the keep-alive
// interval from then, so the next keep-alive repeat is not right behind the IDR.
TEST(RepeatPolicyTest, AnUntimedRepeatRestartsTheKeepAliveInterval) {
  RepeatPolicy policy(60, {.idle_fps = 5, .settle_ns = kSecond});
  policy.onFresh(kT0);
  const uint64_t t = kT0 + 3 * kSecond;
  policy.onTimedRepeat(t);
  policy.onRepeat(t + 150'000'000);  // the IDR
  EXPECT_FALSE(policy.publicationDue(t + 200'000'000));
  EXPECT_TRUE(policy.publicationDue(t + 350'000'000));
  EXPECT_EQ(policy.timerDue(), t + 150'000'000 + policy.idleInterval() + policy.interval());
}

}  // namespace
}  // namespace funkhaus::encode
