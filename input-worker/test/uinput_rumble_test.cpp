// Unit tests of RumbleTracker: uploaded force-feedback effects, play and stop, replay time.
#include "funkhaus/input/uinput_rumble.h"

#include <gtest/gtest.h>

namespace funkhaus::input {
namespace {

constexpr uint64_t kMs = 1'000'000;

TEST(UinputRumble, RumbleOfTakesRumbleOnly) {
  ff_effect e{};
  e.type = FF_RUMBLE;
  e.u.rumble.strong_magnitude = 0xC000;
  e.u.rumble.weak_magnitude = 0x4000;
  e.replay.length = 500;
  const auto r = rumbleOf(e);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->strong, 0xC000);
  EXPECT_EQ(r->weak, 0x4000);
  EXPECT_EQ(r->length_ms, 500u);
  e.type = FF_PERIODIC;
  EXPECT_FALSE(rumbleOf(e));
}

TEST(UinputRumble, PlayStopAndStrongestWins) {
  RumbleTracker t;
  EXPECT_EQ(t.motors(), (Motors{0, 0}));
  ASSERT_TRUE(t.upload(0, {1000, 2000}));
  ASSERT_TRUE(t.upload(3, {3000, 500}));
  EXPECT_EQ(t.motors(), (Motors{0, 0}));  // uploaded, not played
  t.play(0, 1, 0);
  EXPECT_EQ(t.motors(), (Motors{1000, 2000}));
  t.play(3, 1, 0);
  EXPECT_EQ(t.motors(), (Motors{3000, 2000}));
  t.play(0, 0, 0);  // stop
  EXPECT_EQ(t.motors(), (Motors{3000, 500}));
  t.erase(3);
  EXPECT_EQ(t.motors(), (Motors{0, 0}));
  t.play(3, 1, 0);  // erased: nothing plays
  EXPECT_EQ(t.motors(), (Motors{0, 0}));
}

TEST(UinputRumble, UpdateOfAPlayingEffectChangesTheMotors) {
  RumbleTracker t;
  t.upload(1, {1000, 1000});
  t.play(1, 1, 0);
  t.upload(1, {5000, 0});
  EXPECT_EQ(t.motors(), (Motors{5000, 0}));
}

TEST(UinputRumble, ReplayLengthTimesCountThenStops) {
  RumbleTracker t;
  t.upload(2, {100, 200, /*length_ms=*/100, /*delay_ms=*/10});
  t.play(2, 3, 1000 * kMs);
  t.expire(1309 * kMs);
  EXPECT_EQ(t.motors(), (Motors{100, 200}));
  t.expire(1310 * kMs);
  EXPECT_EQ(t.motors(), (Motors{0, 0}));
  // Length 0 plays until stopped.
  t.upload(4, {7, 8});
  t.play(4, 1, 0);
  t.expire(UINT64_MAX / 2);
  EXPECT_EQ(t.motors(), (Motors{7, 8}));
}

TEST(UinputRumble, RefusesIdsOutsideItsSlots) {
  RumbleTracker t;
  EXPECT_FALSE(t.upload(-1, {1, 1}));
  EXPECT_FALSE(t.upload(static_cast<int32_t>(kPadEffectsMax), {1, 1}));
  t.play(99, 1, 0);
  t.erase(99);
  EXPECT_EQ(t.motors(), (Motors{0, 0}));
}

}  // namespace
}  // namespace funkhaus::input
