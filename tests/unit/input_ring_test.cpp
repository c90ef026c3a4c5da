// Input ring: events round-trip, the producer's held state, overrun and resync from held, a
// consumer that starts at head, applied and rumble, threaded producer/consumer with torn reads
// hunted, and headers no owner wrote.
#include "funkhaus/common/input_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "funkhaus/common/clock.h"
#include "test_util.h"

namespace funkhaus {
namespace {

using abi::atomicLoad;
using abi::InputEvent;
using abi::InputKind;

struct Ring {
  explicit Ring(uint32_t slots = 64) {
    InputRingConfig config;
    config.slot_count = slots;
    owner.emplace(std::move(*createInputRing(config)));
    producer.emplace(std::move(*InputProducer::attach(*SharedMemory::attachDup(owner->handle()))));
    consumer.emplace(std::move(*InputConsumer::attach(*SharedMemory::attachDup(owner->handle()))));
  }
  abi::InputRingHeader& header() { return *reinterpret_cast<abi::InputRingHeader*>(owner->data()); }
  std::optional<SharedMemory> owner;
  std::optional<InputProducer> producer;
  std::optional<InputConsumer> consumer;
};

InputEvent key(InputKind kind, uint32_t vk) {
  InputEvent e{};
  e.kind = static_cast<uint16_t>(kind);
  e.key.vk = vk;
  return e;
}

InputEvent move(int32_t dx, int32_t dy) {
  InputEvent e{};
  e.kind = static_cast<uint16_t>(InputKind::kMouseMove);
  e.pointer.x = dx;
  e.pointer.y = dy;
  return e;
}

InputEvent touch(abi::ContactEvent event, uint32_t id) {
  InputEvent e{};
  e.kind = static_cast<uint16_t>(InputKind::kTouch);
  e.touch.event = static_cast<uint8_t>(event);
  e.touch.pointer_id = id;
  e.touch.x = 0.5f;
  e.touch.y = 0.25f;
  return e;
}

constexpr uint64_t kTwoMinutesNs = 120'000'000'000;

bool keyDown(const abi::InputHeld& held, uint32_t vk) {
  return (held.keys[vk / 64] >> (vk % 64)) & 1;
}

TEST(InputRing, CreateRefusesBadSlotCounts) {
  for (uint32_t n : {0u, 1u, 3u, 100u, abi::kMaxInputSlots * 2}) {
    InputRingConfig c;
    c.slot_count = n;
    auto ring = createInputRing(c);
    ASSERT_FALSE(ring.ok()) << n;
    EXPECT_NE(ring.error().message.find("slot_count"), std::string::npos);
  }
  InputRingConfig c;  // the default
  auto ring = createInputRing(c);
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(ring->size(), sizeof(abi::InputRingHeader) + 4096 * sizeof(InputEvent));
  auto layout = validateInputRing(ring->data(), ring->size());
  ASSERT_TRUE(layout.ok()) << layout.error().message;
  EXPECT_EQ(layout->slot_count, 4096u);
}

TEST(InputRing, EventsRoundTripWithSequenceAndTime) {
  Ring r;
  const uint64_t before = monotonicNs();
  ASSERT_TRUE(r.producer->publish(key(InputKind::kKeyDown, 0x41)));
  InputEvent m = move(-5, 7);
  m.received_ns = 42;  // kept when set
  ASSERT_TRUE(r.producer->publish(m));
  EXPECT_EQ(r.producer->published(), 2u);
  EXPECT_EQ(atomicLoad(r.header().head), 2u);

  auto first = r.consumer->next(0);
  ASSERT_TRUE(std::holds_alternative<InputEvent>(first));
  const InputEvent& a = std::get<InputEvent>(first);
  EXPECT_EQ(a.sequence, 2u);
  EXPECT_EQ(a.kind, static_cast<uint16_t>(InputKind::kKeyDown));
  EXPECT_EQ(a.key.vk, 0x41u);
  EXPECT_GE(a.received_ns, before);
  auto second = r.consumer->next(0);
  ASSERT_TRUE(std::holds_alternative<InputEvent>(second));
  const InputEvent& b = std::get<InputEvent>(second);
  EXPECT_EQ(b.sequence, 4u);
  EXPECT_EQ(b.pointer.x, -5);
  EXPECT_EQ(b.pointer.y, 7);
  EXPECT_EQ(b.received_ns, 42u);
  EXPECT_TRUE(std::holds_alternative<InputTimeout>(r.consumer->next(0)));
  EXPECT_EQ(r.consumer->consumed(), 2u);
  EXPECT_EQ(atomicLoad(r.header().tail), 2u);
}

TEST(InputRing, NextWaitsForTheTimeoutAndWakesOnPublish) {
  Ring r;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(std::holds_alternative<InputTimeout>(r.consumer->next(30'000'000)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(25));

  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    r.producer->publish(key(InputKind::kKeyDown, 0x20));
  });
  const auto t1 = std::chrono::steady_clock::now();
  auto got = r.consumer->next(5'000'000'000);
  producer.join();
  EXPECT_TRUE(std::holds_alternative<InputEvent>(got));
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(2));
}

TEST(InputRing, PublishRefusesEventsOutOfRange) {
  Ring r;
  InputEvent bad_key = key(InputKind::kKeyDown, 256);
  InputEvent bad_kind{};
  bad_kind.kind = 99;
  InputEvent bad_pad{};
  bad_pad.kind = static_cast<uint16_t>(InputKind::kPadState);
  bad_pad.index = 16;
  InputEvent bad_touch = touch(abi::ContactEvent::kDown, 1);
  bad_touch.touch.x = NAN;
  InputEvent surrogate{};
  surrogate.kind = static_cast<uint16_t>(InputKind::kText);
  surrogate.text.code_point = 0xD800;
  for (const InputEvent& e : {bad_key, bad_kind, bad_pad, bad_touch, surrogate})
    EXPECT_FALSE(r.producer->publish(e));
  EXPECT_EQ(atomicLoad(r.header().rejected), 5u);
  EXPECT_EQ(r.producer->published(), 0u);
  r.producer->countRejected();
  EXPECT_EQ(atomicLoad(r.header().rejected), 6u);
}

TEST(InputRing, CheckInputEventNamesTheField) {
  auto check = [](const InputEvent& e) {
    auto ok = checkInputEvent(e);
    return ok ? std::string() : ok.error().message;
  };
  EXPECT_NE(check(key(InputKind::kKeyUp, 0)).find("vk"), std::string::npos);
  InputEvent b{};
  b.kind = static_cast<uint16_t>(InputKind::kButtonDown);
  b.button.button = 6;
  EXPECT_NE(check(b).find("button"), std::string::npos);
  InputEvent p{};
  p.kind = static_cast<uint16_t>(InputKind::kMousePosition);
  p.pointer = {10, 10, 10, 20};
  EXPECT_NE(check(p).find("position"), std::string::npos);
  p.pointer = {9, 19, 10, 20};
  EXPECT_EQ(check(p), "");
  InputEvent pen{};
  pen.kind = static_cast<uint16_t>(InputKind::kPen);
  pen.pen.event = static_cast<uint8_t>(abi::ContactEvent::kMove);
  pen.pen.tool = abi::kPenToolPen;
  pen.pen.tilt = 91;
  EXPECT_NE(check(pen).find("tilt"), std::string::npos);
  pen.pen.tilt = abi::kTiltUnknown;
  pen.pen.pressure = 1.5f;
  EXPECT_NE(check(pen).find("pressure"), std::string::npos);
  // A cancel carries no position: whatever is there is not looked at.
  InputEvent cancel = touch(abi::ContactEvent::kCancel, 3);
  cancel.touch.x = INFINITY;
  EXPECT_EQ(check(cancel), "");
  InputEvent release{};
  release.kind = static_cast<uint16_t>(InputKind::kReleaseAll);
  EXPECT_EQ(check(release), "");
}

TEST(InputRing, HeldFollowsKeysButtonsPadsTouchesAndPen) {
  Ring r;
  InputProducer& p = *r.producer;
  p.publish(key(InputKind::kKeyDown, 0x41));
  p.publish(key(InputKind::kKeyDown, 0xA0));
  p.publish(key(InputKind::kKeyUp, 0x41));
  InputEvent button{};
  button.kind = static_cast<uint16_t>(InputKind::kButtonDown);
  button.button.button = 3;
  p.publish(button);
  InputEvent pad{};
  pad.kind = static_cast<uint16_t>(InputKind::kPadState);
  pad.index = 2;
  pad.pad.buttons = abi::kPadA;
  pad.pad.left_x = -1234;
  pad.pad.active_mask = 0x4;
  p.publish(pad);
  InputEvent arrival{};
  arrival.kind = static_cast<uint16_t>(InputKind::kPadArrival);
  arrival.index = 5;
  p.publish(arrival);
  p.publish(touch(abi::ContactEvent::kDown, 10));
  p.publish(touch(abi::ContactEvent::kDown, 11));
  p.publish(touch(abi::ContactEvent::kDown, 11));  // the same contact again
  p.publish(touch(abi::ContactEvent::kMove, 10));
  InputEvent pen{};
  pen.kind = static_cast<uint16_t>(InputKind::kPen);
  pen.pen.event = static_cast<uint8_t>(abi::ContactEvent::kDown);
  pen.pen.tool = abi::kPenToolPen;
  p.publish(pen);

  abi::InputHeld held = r.header().held;  // no writer runs now
  EXPECT_FALSE(keyDown(held, 0x41));
  EXPECT_TRUE(keyDown(held, 0xA0));
  EXPECT_EQ(held.buttons, 1u << 3);
  EXPECT_EQ(held.pads, (1u << 2) | (1u << 5));
  EXPECT_EQ(held.pad[2].buttons, abi::kPadA);
  EXPECT_EQ(held.pad[2].left_x, -1234);
  EXPECT_EQ(held.touches, 2u);
  EXPECT_EQ(held.pen, 1u);
  EXPECT_EQ(std::memcmp(&held, &p.held(), sizeof held), 0);
  EXPECT_EQ(atomicLoad(r.header().held_sequence) % 2, 0u);

  p.publish(touch(abi::ContactEvent::kUp, 10));
  InputEvent removed{};
  removed.kind = static_cast<uint16_t>(InputKind::kPadRemoved);
  removed.index = 2;
  p.publish(removed);
  held = r.header().held;
  EXPECT_EQ(held.touches, 1u);
  EXPECT_EQ(held.pads, 1u << 5);
  EXPECT_EQ(held.pad[2].left_x, 0);

  p.releaseAll();
  held = r.header().held;
  const abi::InputHeld empty{};
  EXPECT_EQ(std::memcmp(&held, &empty, sizeof held), 0);
  // The consumer sees every event, the last one kReleaseAll.
  InputEvent last{};
  for (;;) {
    auto n = r.consumer->next(0);
    if (!std::holds_alternative<InputEvent>(n)) break;
    last = std::get<InputEvent>(n);
  }
  EXPECT_EQ(last.kind, static_cast<uint16_t>(InputKind::kReleaseAll));
  EXPECT_EQ(r.consumer->consumed(), p.published());
}

TEST(InputRing, OverrunCountsTheLostAndResyncsFromHeld) {
  Ring r(16);
  // Events 0..39: keys 1..40 down; the consumer reads none until the end.
  for (uint32_t vk = 1; vk <= 40; ++vk) r.producer->publish(key(InputKind::kKeyDown, vk));
  auto n = r.consumer->next(0);
  ASSERT_TRUE(std::holds_alternative<InputOverrun>(n));
  const InputOverrun& o = std::get<InputOverrun>(n);
  EXPECT_EQ(o.lost, 40u - 16 + 1);
  EXPECT_TRUE(o.held_consistent);
  for (uint32_t vk = 1; vk <= 40; ++vk) EXPECT_TRUE(keyDown(o.held, vk)) << vk;
  EXPECT_FALSE(keyDown(o.held, 41));
  EXPECT_EQ(r.consumer->overrun(), 25u);
  EXPECT_EQ(atomicLoad(r.header().overrun), 25u);
  // Then the oldest events still in the ring, in order.
  for (uint32_t vk = 26; vk <= 40; ++vk) {
    auto e = r.consumer->next(0);
    ASSERT_TRUE(std::holds_alternative<InputEvent>(e)) << vk;
    EXPECT_EQ(std::get<InputEvent>(e).key.vk, vk);
    EXPECT_EQ(std::get<InputEvent>(e).sequence, 2 * (vk - 1) + 2);
  }
  EXPECT_TRUE(std::holds_alternative<InputTimeout>(r.consumer->next(0)));
}

TEST(InputRing, ASlotOverwrittenUnderTheConsumerIsAnOverrun) {
  Ring r(16);
  r.producer->publish(key(InputKind::kKeyDown, 1));
  // The producer laps the unread slot 0 exactly once: head - tail == slot_count, but slot 0
  // holds event 16 now.
  for (uint32_t i = 0; i < 15; ++i) r.producer->publish(move(1, 1));
  abi::InputEvent& slot0 =
      *reinterpret_cast<InputEvent*>(r.owner->data() + sizeof(abi::InputRingHeader));
  slot0.sequence = 2 * 16 + 1;  // as if event 16 were being written right now
  auto n = r.consumer->next(0);
  ASSERT_TRUE(std::holds_alternative<InputOverrun>(n));
  EXPECT_EQ(std::get<InputOverrun>(n).lost, 1u);
  EXPECT_EQ(r.consumer->position(), 1u);
  EXPECT_TRUE(keyDown(std::get<InputOverrun>(n).held, 1));
}

TEST(InputRing, AConsumerStartsAtHeadAndTheProducerContinuesTheCount) {
  Ring r;
  for (int i = 0; i < 5; ++i) r.producer->publish(move(i, i));
  r.consumer.reset();
  r.consumer.emplace(
      std::move(*InputConsumer::attach(*SharedMemory::attachDup(r.owner->handle()))));
  EXPECT_EQ(r.consumer->position(), 5u);
  EXPECT_TRUE(std::holds_alternative<InputTimeout>(r.consumer->next(0)));

  r.producer.reset();
  EXPECT_EQ(atomicLoad(r.header().producer_pid), 0u);
  r.producer.emplace(
      std::move(*InputProducer::attach(*SharedMemory::attachDup(r.owner->handle()))));
  EXPECT_EQ(r.producer->published(), 5u);
  r.producer->releaseAll();
  auto e = r.consumer->next(0);
  ASSERT_TRUE(std::holds_alternative<InputEvent>(e));
  EXPECT_EQ(std::get<InputEvent>(e).kind, static_cast<uint16_t>(InputKind::kReleaseAll));
  EXPECT_EQ(std::get<InputEvent>(e).sequence, 2u * 5 + 2);
}

TEST(InputRing, TheConsumerSkipsEventsOutOfRangeInTheRing) {
  Ring r;
  r.producer->publish(key(InputKind::kKeyDown, 7));
  r.producer->publish(key(InputKind::kKeyDown, 8));
  // A producer that wrote garbage: slot 0 says vk 300.
  auto* slots = reinterpret_cast<InputEvent*>(r.owner->data() + sizeof(abi::InputRingHeader));
  slots[0].key.vk = 300;
  auto e = r.consumer->next(0);
  ASSERT_TRUE(std::holds_alternative<InputEvent>(e));
  EXPECT_EQ(std::get<InputEvent>(e).key.vk, 8u);
  EXPECT_EQ(r.consumer->outOfRange(), 1u);
  r.consumer->countOutOfRange();
  EXPECT_EQ(atomicLoad(r.header().out_of_range), 2u);
}

TEST(InputRing, HeadGoneBackwardsResyncsWithoutLoss) {
  Ring r;
  for (int i = 0; i < 3; ++i) r.producer->publish(move(1, 1));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(std::holds_alternative<InputEvent>(r.consumer->next(0)));
  abi::atomicRef(r.header().head).store(1);
  auto n = r.consumer->next(0);
  ASSERT_TRUE(std::holds_alternative<InputOverrun>(n));
  EXPECT_EQ(std::get<InputOverrun>(n).lost, 0u);
  EXPECT_EQ(r.consumer->position(), 1u);
}

TEST(InputRing, AppliedAndRumbleGoBack) {
  Ring r;
  abi::InputHeld applied{};
  applied.keys[1] = 0x5;
  applied.pads = 0x3;
  applied.pad[1].right_y = 77;
  r.consumer->writeApplied(applied);
  bool consistent = false;
  abi::InputHeld back = r.consumer->readApplied(&consistent);
  EXPECT_TRUE(consistent);
  EXPECT_EQ(std::memcmp(&back, &applied, sizeof back), 0);

  EXPECT_TRUE(r.producer->pollRumble().empty());
  r.consumer->setRumble(3, 1000, 2000);
  r.consumer->setRumble(99, 1, 1);  // ignored
  auto changed = r.producer->pollRumble();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].pad, 3);
  EXPECT_EQ(changed[0].low_frequency, 1000);
  EXPECT_EQ(changed[0].high_frequency, 2000);
  EXPECT_TRUE(r.producer->pollRumble().empty());
  r.consumer->setRumble(3, 0, 0);
  changed = r.producer->pollRumble();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].low_frequency, 0);

  // A successor producer hears the current state of every pad that ever rumbled.
  r.producer.reset();
  r.producer.emplace(
      std::move(*InputProducer::attach(*SharedMemory::attachDup(r.owner->handle()))));
  changed = r.producer->pollRumble();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].pad, 3);
}

TEST(InputRing, AppliedOfAWriterThatDiedMidWriteIsReturnedAsItIs) {
  Ring r;
  abi::InputHeld applied{};
  applied.buttons = 0x6;
  r.consumer->writeApplied(applied);
  abi::atomicRef(r.header().applied_sequence).fetch_add(1);  // odd: died while writing
  r.consumer->setSeqlockPatience(kTwoMinutesNs);             // its writer is known gone: no waiting
  bool consistent = true;
  const auto start = std::chrono::steady_clock::now();
  abi::InputHeld back = r.consumer->readApplied(&consistent);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::minutes(1));
  EXPECT_FALSE(consistent);
  EXPECT_EQ(back.buttons, 0x6u);
  r.consumer->writeApplied(applied);  // the successor writes on
  back = r.consumer->readApplied(&consistent);
  EXPECT_TRUE(consistent);
  EXPECT_EQ(atomicLoad(r.header().applied_sequence) % 2, 0u);
}

TEST(InputRing, HeldOfAProducerThatDiedMidWriteIsReleased) {
  Ring r(16);
  for (uint32_t vk = 1; vk <= 20; ++vk) r.producer->publish(key(InputKind::kKeyDown, vk));
  abi::atomicRef(r.header().held_sequence).fetch_add(1);  // odd: the producer died while writing
  abi::atomicRef(r.header().producer_pid).store(test::deadPid());
  // Given up on because the writer is dead, not because patience ran out: a reader that waited
  // for a dead writer would be here two minutes.
  r.consumer->setSeqlockPatience(kTwoMinutesNs);
  const auto start = std::chrono::steady_clock::now();
  auto next = r.consumer->next(0);  // overrun: reads `held`
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::minutes(1));
  ASSERT_TRUE(std::holds_alternative<InputOverrun>(next));
  const InputOverrun& o = std::get<InputOverrun>(next);
  EXPECT_FALSE(o.held_consistent);
  const abi::InputHeld empty{};
  EXPECT_EQ(std::memcmp(&o.held, &empty, sizeof empty), 0);  // release all, nothing half-written
}

// A live producer stalled in the middle of writing `held` for good: the consumer stops waiting
// after its patience and releases everything.
TEST(InputRing, HeldOfALiveProducerStalledMidWriteIsGivenUpAfterThePatience) {
  Ring r(16);
  for (uint32_t vk = 1; vk <= 20; ++vk) r.producer->publish(key(InputKind::kKeyDown, vk));
  abi::atomicRef(r.header().held_sequence).fetch_add(1);  // odd; our pid is the producer's
  r.consumer->setSeqlockPatience(50'000'000);
  auto next = r.consumer->next(0);
  ASSERT_TRUE(std::holds_alternative<InputOverrun>(next));
  const InputOverrun& o = std::get<InputOverrun>(next);
  EXPECT_FALSE(o.held_consistent);
  EXPECT_FALSE(keyDown(o.held, 1));
}

// A live producer descheduled in the middle of writing `held` is waited for: 50 ms is far past
// the attempts a dead one gets (a few milliseconds), well within the reader's patience.
TEST(InputRing, HeldOfALiveProducerMidWriteIsWaitedFor) {
  Ring r(16);
  for (uint32_t vk = 1; vk <= 20; ++vk) r.producer->publish(key(InputKind::kKeyDown, vk));
  auto seq = abi::atomicRef(r.header().held_sequence);
  seq.fetch_add(1);  // odd: in the middle of a write (our pid is the producer's)
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    seq.fetch_add(1);  // the write ends
  });
  auto next = r.consumer->next(0);
  writer.join();
  ASSERT_TRUE(std::holds_alternative<InputOverrun>(next));
  const InputOverrun& o = std::get<InputOverrun>(next);
  EXPECT_TRUE(o.held_consistent);
  for (uint32_t vk = 1; vk <= 20; ++vk) EXPECT_TRUE(keyDown(o.held, vk)) << vk;
}

TEST(InputRing, RolesAndPeerRelease) {
  Ring r;
  // A second live producer (another process) is refused.
  const uint32_t stranger = test::livePeerPid();
  r.producer.reset();
  abi::atomicRef(r.header().producer_pid).store(stranger);
  auto refused = InputProducer::attach(*SharedMemory::attachDup(r.owner->handle()));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("already attached"), std::string::npos);
  ASSERT_TRUE(releaseInputRingPeer(*r.owner, stranger).ok());
  EXPECT_EQ(atomicLoad(r.header().producer_pid), 0u);
  // A dead one is not in the way.
  abi::atomicRef(r.header().producer_pid).store(test::deadPid());
  EXPECT_TRUE(InputProducer::attach(*SharedMemory::attachDup(r.owner->handle())).ok());
}

// Every payload word derives from the event number, so a torn copy cannot pass.
InputEvent patterned(uint64_t n) {
  InputEvent e{};
  e.kind = static_cast<uint16_t>(InputKind::kMouseMove);
  for (size_t i = 0; i < sizeof e.bytes; ++i) e.bytes[i] = static_cast<uint8_t>(n * 7 + i * 13);
  e.received_ns = n + 1;
  e.reserved1 = static_cast<uint32_t>(n * 2654435761u);
  return e;
}

TEST(InputRing, ThreadedProducerAndConsumerNeverSeeATornEvent) {
  Ring r(64);
  constexpr uint64_t kEvents = 200'000;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (uint64_t n = 0; n < kEvents; ++n) {
      r.producer->publish(patterned(n));
      if (n % 4096 == 0) std::this_thread::yield();
    }
    done = true;
  });
  uint64_t got = 0, lost = 0, torn = 0, expected_next = 0;
  for (;;) {
    auto next = r.consumer->next(1'000'000);
    if (auto* e = std::get_if<InputEvent>(&next)) {
      const uint64_t n = (e->sequence - 2) / 2;
      EXPECT_EQ(n, expected_next);
      const InputEvent want = patterned(n);
      if (std::memcmp(e->bytes, want.bytes, sizeof want.bytes) != 0 ||
          e->received_ns != want.received_ns || e->reserved1 != want.reserved1)
        ++torn;
      expected_next = n + 1;
      ++got;
      if (got % 1000 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    } else if (auto* o = std::get_if<InputOverrun>(&next)) {
      lost += o->lost;
      expected_next = r.consumer->position();
    } else if (done && r.consumer->position() == kEvents) {
      break;
    }
  }
  producer.join();
  EXPECT_EQ(torn, 0u);
  EXPECT_EQ(got + lost, kEvents);
  EXPECT_EQ(r.consumer->overrun(), lost);
  EXPECT_EQ(r.consumer->consumed(), got);
}

// `held` read on an overrun is one consistent state: pad j holds the latest value k with
// k % 16 == j, so the 16 pads always hold 16 consecutive values.
TEST(InputRing, ThreadedOverrunsReadHeldConsistently) {
  Ring r(2);
  constexpr uint32_t kEvents = 100'000;
  std::thread producer([&] {
    for (uint32_t k = 0; k < kEvents; ++k) {
      InputEvent e{};
      e.kind = static_cast<uint16_t>(InputKind::kPadState);
      e.index = static_cast<uint8_t>(k % 16);
      e.pad.left_x = static_cast<int16_t>(k & 0xffff);
      e.pad.left_y = static_cast<int16_t>(k >> 16);
      e.pad.right_x = static_cast<int16_t>(~k & 0xffff);
      e.pad.right_y = static_cast<int16_t>(~k >> 16);
      r.producer->publish(e);
    }
  });
  uint32_t overruns = 0, torn = 0, inconsistent = 0;
  while (r.consumer->position() < kEvents) {
    auto next = r.consumer->next(1'000'000);
    auto* o = std::get_if<InputOverrun>(&next);
    if (o == nullptr) continue;
    ++overruns;
    if (!o->held_consistent) {  // counted, not asserted: the producer thread must be joined
      ++inconsistent;
      continue;
    }
    uint32_t values[16], max = 0;
    for (uint32_t j = 0; j < 16; ++j) {
      const abi::InputPad& p = o->held.pad[j];
      values[j] = static_cast<uint16_t>(p.left_x) | uint32_t{static_cast<uint16_t>(p.left_y)} << 16;
      const uint32_t check =
          static_cast<uint16_t>(p.right_x) | uint32_t{static_cast<uint16_t>(p.right_y)} << 16;
      if (o->held.pads & (1u << j)) {
        if (check != ~values[j]) ++torn;
        max = std::max(max, values[j]);
      }
    }
    if (o->held.pads == 0xffff)
      for (uint32_t j = 0; j < 16; ++j)
        if (values[j] % 16 != j || values[j] + 16 <= max) ++torn;
  }
  producer.join();
  EXPECT_GT(overruns, 0u);
  EXPECT_EQ(inconsistent, 0u);  // the producer is alive throughout
  EXPECT_EQ(torn, 0u);
}

TEST(InputRing, ThreadedAppliedIsNeverTorn) {
  Ring r;
  auto reader = InputConsumer::attach(*SharedMemory::attachDup(r.owner->handle()));
  ASSERT_TRUE(reader.ok());  // the same process may hold the role twice (test only)
  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0};
  // The writer goes on until the reader has read 1000 times while it wrote: on a loaded machine
  // the thread may otherwise finish its 50 000 writes before the reader's first read.
  std::thread writer([&] {
    for (uint64_t c = 1; c <= 50'000 || reads.load(std::memory_order_relaxed) < 1000; ++c) {
      abi::InputHeld h;
      std::memset(&h, static_cast<int>(c & 0xff), sizeof h);
      r.consumer->writeApplied(h);
    }
    done = true;
  });
  uint64_t torn = 0;
  while (!done) {
    bool consistent = false;
    const abi::InputHeld h = reader->readApplied(&consistent);
    reads.fetch_add(1, std::memory_order_relaxed);
    if (!consistent) continue;
    const auto* bytes = reinterpret_cast<const uint8_t*>(&h);
    for (size_t i = 1; i < sizeof h; ++i)
      if (bytes[i] != bytes[0]) {
        ++torn;
        break;
      }
  }
  writer.join();
  EXPECT_GE(reads.load(), 1000u);
  EXPECT_EQ(torn, 0u);
}

// ---- headers no owner wrote ----------------------------------------------------------------

struct Corruption {
  const char* field;  // the error must name it
  void (*corrupt)(abi::InputRingHeader&);
};

TEST(InputRing, AttachRefusesCorruptedHeaders) {
  const Corruption cases[] = {
      {"magic", [](abi::InputRingHeader& h) { h.magic ^= 1; }},
      {"ABI version", [](abi::InputRingHeader& h) { h.abi_version += 1; }},
      {"ring_version", [](abi::InputRingHeader& h) { h.ring_version += 1; }},
      {"header_size", [](abi::InputRingHeader& h) { h.header_size -= 8; }},
      {"event_size", [](abi::InputRingHeader& h) { h.event_size = 32; }},
      {"slot_count", [](abi::InputRingHeader& h) { h.slot_count = 48; }},
      {"slot_count", [](abi::InputRingHeader& h) { h.slot_count = 0; }},
      {"slot_count", [](abi::InputRingHeader& h) { h.slot_count = abi::kMaxInputSlots * 2; }},
      {"slot_count", [](abi::InputRingHeader& h) { h.slot_count = 128; }},  // beyond the mapping
      {"events_offset", [](abi::InputRingHeader& h) { h.events_offset = 64; }},
      {"events_offset", [](abi::InputRingHeader& h) { h.events_offset += 8; }},
      {"events_offset", [](abi::InputRingHeader& h) { h.events_offset += 64; }},
      {"events_offset", [](abi::InputRingHeader& h) { h.events_offset = uint64_t{1} << 62; }},
      {"total_size", [](abi::InputRingHeader& h) { h.total_size += 64; }},
  };
  for (const Corruption& c : cases) {
    InputRingConfig config;
    config.slot_count = 64;
    auto ring = createInputRing(config);
    ASSERT_TRUE(ring.ok());
    c.corrupt(*reinterpret_cast<abi::InputRingHeader*>(ring->data()));
    auto producer = InputProducer::attach(*SharedMemory::attachDup(ring->handle()));
    ASSERT_FALSE(producer.ok()) << c.field;
    EXPECT_NE(producer.error().message.find(c.field), std::string::npos)
        << c.field << ": " << producer.error().message;
    auto consumer = InputConsumer::attach(*SharedMemory::attachDup(ring->handle()));
    EXPECT_FALSE(consumer.ok()) << c.field;
    EXPECT_FALSE(releaseInputRingPeer(*ring, 1).ok()) << c.field;
  }
}

TEST(InputRing, AttachRefusesAMappingSmallerThanTheHeader) {
  auto shm = SharedMemory::create("small", 512);
  ASSERT_TRUE(shm.ok());
  auto producer = InputProducer::attach(*SharedMemory::attachDup(shm->handle()));
  ASSERT_FALSE(producer.ok());
  EXPECT_NE(producer.error().message.find("smaller"), std::string::npos);
}

}  // namespace
}  // namespace funkhaus
