// The keyframe policy on behalf of every protocol's viewers, on times the test chooses: the rate
// limit towards funkhausd, the second keyframe after a start, re-asking while a viewer waits,
// and the backoff of a congested viewer.
#include "funkhaus/net/viewer_registry.h"

#include <gtest/gtest.h>

namespace funkhaus::net {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kT0 = 1'000'000 * kMs;  // an arbitrary CLOCK_MONOTONIC reading

TEST(ViewerRegistry, AtMostOneRequestPerIntervalTheRestHeldBack) {
  ViewerRegistry r(200 * kMs);
  EXPECT_TRUE(r.want(kT0)) << "the first goes out at once";
  EXPECT_FALSE(r.want(kT0 + 50 * kMs)) << "within the interval: held back";
  EXPECT_FALSE(r.want(kT0 + 60 * kMs)) << "still one held, not two";
  ASSERT_TRUE(r.dueAt());
  EXPECT_EQ(*r.dueAt(), kT0 + 200 * kMs);
  EXPECT_FALSE(r.due(kT0 + 199 * kMs));
  EXPECT_TRUE(r.due(kT0 + 200 * kMs));
  EXPECT_FALSE(r.dueAt()) << "nothing held any more";
  EXPECT_FALSE(r.due(kT0 + 500 * kMs)) << "nothing to send";
  EXPECT_TRUE(r.want(kT0 + 400 * kMs));
  EXPECT_EQ(r.requests(), 3u);
}

TEST(ViewerRegistry, AStartWaitsForAKeyframeAndGetsASecondOneLater) {
  ViewerRegistry r(200 * kMs);
  Viewer v;
  r.add(&v);
  EXPECT_EQ(r.playing(), 0u);
  EXPECT_TRUE(r.started(v, kT0));
  EXPECT_TRUE(v.playing && v.needs_keyframe);
  EXPECT_EQ(r.playing(), 1u);
  EXPECT_TRUE(r.want(kT0));
  v.needs_keyframe = false;  // the keyframe came
  EXPECT_FALSE(r.sweep(kT0 + 999 * kMs));
  EXPECT_TRUE(r.sweep(kT0 + kJoinKeyframeNs)) << "the second keyframe";
  EXPECT_FALSE(r.sweep(kT0 + kJoinKeyframeNs + 250 * kMs)) << "once";
  // A continued viewer (after a restart) gets no second one.
  Viewer continued;
  r.add(&continued);
  r.started(continued, kT0, false);
  EXPECT_EQ(continued.join_keyframe_ns, 0u);
  // Playing again does not make a viewer wait again.
  v.needs_keyframe = false;
  r.started(v, kT0 + 5000 * kMs);
  EXPECT_FALSE(v.needs_keyframe);
  r.remove(&v);
  r.remove(&continued);
  EXPECT_EQ(r.playing(), 0u);
}

TEST(ViewerRegistry, ReAsksEverySecondWhileAViewerWaitsUnlessItIsCongested) {
  ViewerRegistry r(200 * kMs);
  Viewer v;
  v.playing = true;
  v.needs_keyframe = true;
  r.add(&v);
  ASSERT_TRUE(r.want(kT0));
  EXPECT_FALSE(r.sweep(kT0 + 500 * kMs));
  EXPECT_TRUE(r.sweep(kT0 + 1001 * kMs)) << "a second without the keyframe";
  v.congested = true;
  EXPECT_FALSE(r.sweep(kT0 + 5000 * kMs)) << "a congested viewer asks through its backoff";
  v.congested = false;
  v.playing = false;
  EXPECT_FALSE(r.sweep(kT0 + 5000 * kMs)) << "a paused viewer waits for nothing";
}

TEST(ViewerRegistry, ACongestedViewerBacksOffDoublingUpToTheCap) {
  ViewerRegistry r(200 * kMs);
  Viewer v;
  r.add(&v);
  uint64_t now = kT0;
  EXPECT_TRUE(r.dropped(v, now)) << "the first drop asks at once";
  EXPECT_TRUE(v.congested && v.needs_keyframe);
  EXPECT_FALSE(r.dropped(v, now + 499 * kMs));
  EXPECT_TRUE(r.dropped(v, now + 500 * kMs));
  now += 500 * kMs;
  EXPECT_FALSE(r.dropped(v, now + 999 * kMs)) << "the backoff doubled to 1 s";
  EXPECT_TRUE(r.dropped(v, now + 1000 * kMs));
  for (int i = 0; i < 10; ++i) {
    now = v.next_congestion_request_ns;
    r.dropped(v, now);
  }
  EXPECT_EQ(v.backoff_ns, kMaxCongestionBackoffNs) << "capped";
  r.delivered(v);
  EXPECT_FALSE(v.congested);
  EXPECT_EQ(v.backoff_ns, kMinCongestionBackoffNs);
  EXPECT_TRUE(r.dropped(v, now + 1)) << "after a delivered frame it asks at once again";
}

}  // namespace
}  // namespace funkhaus::net
