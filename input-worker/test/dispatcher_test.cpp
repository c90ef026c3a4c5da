// The dispatcher without X: range checks, routing by kind, the applied picture, release on
// kReleaseAll, after an overrun and after a predecessor.
#include "funkhaus/input/dispatcher.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "fake_sink.h"
#include "input_events.h"

namespace funkhaus::input {
namespace {

using abi::InputKind;
using test::FakeSink;

using test::button;
using test::key;
using test::make;

bool keyDown(const abi::InputHeld& held, uint32_t vk) {
  return (held.keys[vk / 64] >> (vk % 64) & 1) != 0;
}

struct Fixture {
  Fixture() {
    auto x = std::make_unique<FakeSink>(
        "x",
        std::set<InputKind>{InputKind::kKeyDown, InputKind::kKeyUp, InputKind::kMouseMove,
                            InputKind::kMousePosition, InputKind::kButtonDown, InputKind::kButtonUp,
                            InputKind::kScroll, InputKind::kHScroll, InputKind::kText});
    // uinput also takes keys, but after x: x wins them.
    auto u = std::make_unique<FakeSink>(
        "u", std::set<InputKind>{InputKind::kKeyDown, InputKind::kKeyUp, InputKind::kPadState,
                                 InputKind::kPadArrival, InputKind::kPadRemoved, InputKind::kTouch,
                                 InputKind::kPen});
    xtest = x.get();
    uinput = u.get();
    std::vector<std::unique_ptr<InputSink>> sinks;
    sinks.push_back(std::move(x));
    sinks.push_back(std::move(u));
    dispatcher.emplace(std::move(sinks));
  }
  FakeSink* xtest;
  FakeSink* uinput;
  std::optional<Dispatcher> dispatcher;
};

TEST(DispatcherTest, RoutesEachKindToTheFirstSinkThatTakesIt) {
  Fixture f;
  EXPECT_EQ(f.dispatcher->sinkFor(InputKind::kKeyDown), f.xtest);
  EXPECT_EQ(f.dispatcher->sinkFor(InputKind::kPadState), f.uinput);
  EXPECT_EQ(f.dispatcher->sinkFor(InputKind::kReleaseAll), nullptr);
  ASSERT_TRUE(f.dispatcher->dispatch(key(InputKind::kKeyDown, 0x41)));
  auto pad = make(InputKind::kPadArrival);
  pad.index = 3;
  ASSERT_TRUE(f.dispatcher->dispatch(pad));
  EXPECT_EQ(f.xtest->events.size(), 1u);
  EXPECT_EQ(f.uinput->events.size(), 1u);
  EXPECT_EQ(f.dispatcher->counters().applied, 2u);
  EXPECT_EQ(f.dispatcher->devices(), 2u);
}

TEST(DispatcherTest, KindsWithoutASinkAreCountedUnrouted) {
  std::vector<std::unique_ptr<InputSink>> sinks;
  sinks.push_back(std::make_unique<FakeSink>("x", std::set<InputKind>{InputKind::kKeyDown}));
  Dispatcher d(std::move(sinks));
  auto pad = make(InputKind::kPadRemoved);
  ASSERT_TRUE(d.dispatch(pad));
  EXPECT_EQ(d.counters().unrouted, 1u);
  EXPECT_EQ(d.counters().applied, 0u);
}

TEST(DispatcherTest, RangeChecksRefuseAndCount) {
  Fixture f;
  std::vector<abi::InputEvent> bad;
  bad.push_back(make(static_cast<InputKind>(0)));
  bad.push_back(make(static_cast<InputKind>(abi::kMaxInputKind + 1)));
  bad.push_back(key(InputKind::kKeyDown, 0));
  bad.push_back(key(InputKind::kKeyDown, 256));
  bad.push_back(key(InputKind::kKeyUp, 0xFFFFFFFF));
  bad.push_back(button(InputKind::kButtonDown, 0));
  bad.push_back(button(InputKind::kButtonDown, 6));
  auto pad = make(InputKind::kPadState);
  pad.index = abi::kMaxPads;
  bad.push_back(pad);
  auto arrival = make(InputKind::kPadArrival);
  arrival.index = 16;
  bad.push_back(arrival);
  for (uint32_t cp : {0xD800u, 0xDFFFu, 0x110000u, 0xFFFFFFFFu}) {
    auto text = make(InputKind::kText);
    text.text.code_point = cp;
    bad.push_back(text);
  }
  auto touch = make(InputKind::kTouch);
  touch.touch.x = std::numeric_limits<float>::quiet_NaN();
  bad.push_back(touch);
  auto pen = make(InputKind::kPen);
  pen.pen.event = 1;
  pen.pen.tool = abi::kPenToolPen;
  pen.pen.pressure = std::numeric_limits<float>::infinity();
  bad.push_back(pen);
  auto contact = make(InputKind::kTouch);
  contact.touch.event = abi::kMaxContactEvent + 1;
  bad.push_back(contact);
  for (const auto& e : bad) ASSERT_TRUE(f.dispatcher->dispatch(e));
  EXPECT_EQ(f.dispatcher->counters().out_of_range, bad.size());
  EXPECT_EQ(f.dispatcher->counters().events_in, bad.size());
  EXPECT_TRUE(f.xtest->events.empty());
  EXPECT_TRUE(f.uinput->events.empty());

  // The edges that are fine.
  ASSERT_TRUE(f.dispatcher->dispatch(key(InputKind::kKeyDown, 1)));
  ASSERT_TRUE(f.dispatcher->dispatch(key(InputKind::kKeyDown, 255)));
  ASSERT_TRUE(f.dispatcher->dispatch(button(InputKind::kButtonDown, 1)));
  ASSERT_TRUE(f.dispatcher->dispatch(button(InputKind::kButtonDown, 5)));
  auto text = make(InputKind::kText);
  text.text.code_point = 0x10FFFF;
  ASSERT_TRUE(f.dispatcher->dispatch(text));
  pad.index = abi::kMaxPads - 1;
  ASSERT_TRUE(f.dispatcher->dispatch(pad));
  EXPECT_EQ(f.dispatcher->counters().out_of_range, bad.size());
  EXPECT_EQ(f.dispatcher->counters().applied, 6u);
}

TEST(DispatcherTest, AppliedFollowsDownsAndUps) {
  Fixture f;
  ASSERT_TRUE(f.dispatcher->dispatch(key(InputKind::kKeyDown, 0x41)));
  ASSERT_TRUE(f.dispatcher->dispatch(key(InputKind::kKeyDown, 0xA0)));
  ASSERT_TRUE(f.dispatcher->dispatch(button(InputKind::kButtonDown, 3)));
  EXPECT_TRUE(f.dispatcher->takeAppliedChanged());
  EXPECT_FALSE(f.dispatcher->takeAppliedChanged());
  EXPECT_TRUE(keyDown(f.dispatcher->applied(), 0x41));
  EXPECT_TRUE(keyDown(f.dispatcher->applied(), 0xA0));
  EXPECT_EQ(f.dispatcher->applied().buttons, 1u << 3);
  ASSERT_TRUE(f.dispatcher->dispatch(key(InputKind::kKeyUp, 0x41)));
  EXPECT_FALSE(keyDown(f.dispatcher->applied(), 0x41));
  EXPECT_TRUE(f.dispatcher->takeAppliedChanged());
  // Motion changes nothing that stays pressed.
  auto move = make(InputKind::kMouseMove);
  move.pointer.x = 5;
  ASSERT_TRUE(f.dispatcher->dispatch(move));
  EXPECT_FALSE(f.dispatcher->takeAppliedChanged());

  auto pad = make(InputKind::kPadState);
  pad.index = 2;
  pad.pad.active_mask = 1u << 2;
  pad.pad.buttons = abi::kPadA;
  ASSERT_TRUE(f.dispatcher->dispatch(pad));
  EXPECT_EQ(f.dispatcher->applied().pads, 1u << 2);
  EXPECT_EQ(f.dispatcher->applied().pad[2].buttons, abi::kPadA);
  pad.pad.active_mask = 0;  // this pad's bit cleared: unplugged
  ASSERT_TRUE(f.dispatcher->dispatch(pad));
  EXPECT_EQ(f.dispatcher->applied().pads, 0u);

  auto touch = make(InputKind::kTouch);
  touch.touch.event = static_cast<uint8_t>(abi::ContactEvent::kDown);
  touch.touch.pointer_id = 7;
  ASSERT_TRUE(f.dispatcher->dispatch(touch));
  touch.touch.pointer_id = 8;
  ASSERT_TRUE(f.dispatcher->dispatch(touch));
  EXPECT_EQ(f.dispatcher->applied().touches, 2u);
  touch.touch.event = static_cast<uint8_t>(abi::ContactEvent::kUp);
  ASSERT_TRUE(f.dispatcher->dispatch(touch));
  EXPECT_EQ(f.dispatcher->applied().touches, 1u);
}

TEST(DispatcherTest, ASinkRefusingADownLeavesNothingApplied) {
  Fixture f;
  f.xtest->refuse = true;
  ASSERT_TRUE(f.dispatcher->dispatch(key(InputKind::kKeyDown, 0x41)));
  EXPECT_FALSE(keyDown(f.dispatcher->applied(), 0x41));
  EXPECT_EQ(f.dispatcher->counters().sink_errors, 1u);
}

TEST(DispatcherTest, ASinkThatIsGoneEndsTheWorker) {
  Fixture f;
  f.xtest->gone = true;
  auto r = f.dispatcher->dispatch(key(InputKind::kKeyDown, 0x41));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPeerLost);
}

TEST(DispatcherTest, ReleaseAllReleasesEverySinkAndClearsApplied) {
  Fixture f;
  ASSERT_TRUE(f.dispatcher->dispatch(key(InputKind::kKeyDown, 0x41)));
  ASSERT_TRUE(f.dispatcher->dispatch(make(InputKind::kReleaseAll)));
  EXPECT_EQ(f.xtest->release_alls, 1);
  EXPECT_EQ(f.uinput->release_alls, 1);
  EXPECT_FALSE(keyDown(f.dispatcher->applied(), 0x41));
  EXPECT_TRUE(f.dispatcher->takeAppliedChanged());
}

TEST(DispatcherTest, OverrunReleasesWhatIsAppliedButNotHeld) {
  Fixture f;
  for (uint32_t vk : {0x41u, 0x42u, 0x43u})
    ASSERT_TRUE(f.dispatcher->dispatch(key(InputKind::kKeyDown, vk)));
  ASSERT_TRUE(f.dispatcher->dispatch(button(InputKind::kButtonDown, 1)));
  ASSERT_TRUE(f.dispatcher->dispatch(button(InputKind::kButtonDown, 2)));
  auto pad = make(InputKind::kPadArrival);
  pad.index = 0;
  ASSERT_TRUE(f.dispatcher->dispatch(pad));
  pad.index = 1;
  ASSERT_TRUE(f.dispatcher->dispatch(pad));
  auto touch = make(InputKind::kTouch);
  touch.touch.event = static_cast<uint8_t>(abi::ContactEvent::kDown);
  ASSERT_TRUE(f.dispatcher->dispatch(touch));
  f.xtest->events.clear();
  f.uinput->events.clear();

  // The client now holds B (0x42) and D (0x44, whose down was lost), button 2, pad 1 with A.
  abi::InputHeld held{};
  held.keys[1] = (uint64_t{1} << (0x42 - 64)) | (uint64_t{1} << (0x44 - 64));
  held.buttons = 1u << 2;
  held.pads = 1u << 1;
  held.pad[1].buttons = abi::kPadA;
  ASSERT_TRUE(f.dispatcher->resync(held, 100));

  std::vector<uint32_t> keys_up, buttons_up;
  for (const auto& e : f.xtest->events) {
    if (e.kind == static_cast<uint16_t>(InputKind::kKeyUp)) keys_up.push_back(e.key.vk);
    if (e.kind == static_cast<uint16_t>(InputKind::kButtonUp))
      buttons_up.push_back(e.button.button);
    EXPECT_NE(e.kind, static_cast<uint16_t>(InputKind::kKeyDown));  // a lost down stays lost
  }
  EXPECT_EQ(keys_up, (std::vector<uint32_t>{0x41, 0x43}));
  EXPECT_EQ(buttons_up, (std::vector<uint32_t>{1}));
  ASSERT_EQ(f.uinput->events.size(), 3u);
  EXPECT_EQ(f.uinput->events[0].kind, static_cast<uint16_t>(InputKind::kTouch));
  EXPECT_EQ(f.uinput->events[0].touch.event, static_cast<uint8_t>(abi::ContactEvent::kCancelAll));
  EXPECT_EQ(f.uinput->events[1].kind, static_cast<uint16_t>(InputKind::kPadRemoved));
  EXPECT_EQ(f.uinput->events[1].index, 0);
  EXPECT_EQ(f.uinput->events[2].kind, static_cast<uint16_t>(InputKind::kPadState));
  EXPECT_EQ(f.uinput->events[2].index, 1);
  EXPECT_EQ(f.uinput->events[2].pad.buttons, abi::kPadA);
  EXPECT_EQ(f.uinput->events[2].pad.active_mask, 1u << 1);

  const abi::InputHeld& applied = f.dispatcher->applied();
  EXPECT_FALSE(keyDown(applied, 0x41));
  EXPECT_TRUE(keyDown(applied, 0x42));
  EXPECT_FALSE(keyDown(applied, 0x44));
  EXPECT_EQ(applied.buttons, 1u << 2);
  EXPECT_EQ(applied.pads, 1u << 1);
  EXPECT_EQ(applied.touches, 0u);
  EXPECT_EQ(f.dispatcher->counters().overruns, 1u);
  EXPECT_EQ(f.dispatcher->counters().lost, 100u);
}

TEST(DispatcherTest, OverrunChecksWhatHeldMakesItSend) {
  Fixture f;
  abi::InputHeld held{};
  held.pads = 1;
  held.pad[0].buttons = 0x800;  // not a known pad button
  ASSERT_TRUE(f.dispatcher->resync(held, 1));
  EXPECT_TRUE(f.uinput->events.empty());
  EXPECT_EQ(f.dispatcher->counters().out_of_range, 1u);
}

TEST(DispatcherTest, APredecessorsKeysAndButtonsGoUpItsDevicesAreLeftAlone) {
  Fixture f;
  abi::InputHeld predecessor{};
  predecessor.keys[1] = uint64_t{1} << (0x41 - 64);
  predecessor.keys[2] = uint64_t{1} << (0xA0 - 128);
  predecessor.buttons = (1u << 1) | (1u << 5);
  predecessor.pads = 3;
  predecessor.touches = 2;
  ASSERT_TRUE(f.dispatcher->releasePredecessor(predecessor));
  std::vector<uint32_t> keys_up, buttons_up;
  for (const auto& e : f.xtest->events) {
    if (e.kind == static_cast<uint16_t>(InputKind::kKeyUp)) keys_up.push_back(e.key.vk);
    if (e.kind == static_cast<uint16_t>(InputKind::kButtonUp))
      buttons_up.push_back(e.button.button);
  }
  EXPECT_EQ(keys_up, (std::vector<uint32_t>{0x41, 0xA0}));
  EXPECT_EQ(buttons_up, (std::vector<uint32_t>{1, 5}));
  EXPECT_TRUE(f.uinput->events.empty());
  EXPECT_TRUE(f.dispatcher->takeAppliedChanged());  // the cleared picture is written back
  EXPECT_EQ(f.dispatcher->applied().pads, 0u);
  EXPECT_EQ(f.dispatcher->counters().applied, 0u);  // not our events
  EXPECT_GE(f.xtest->flushes, 1);
}

}  // namespace
}  // namespace funkhaus::input
