// Frame ring semantics in one process: latest-wins, depth 2, drop-on-full, generations,
// repeat_last, timeouts, wait modes, untrusted slot headers.
#include "funkhaus/common/frame_ring.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "funkhaus/abi/keyed_mutex_word.h"
#include "funkhaus/abi/token.h"
#include "test_util.h"

namespace funkhaus {
namespace {

using abi::atomicLoad;
using Status = FrameConsumer::Status;

constexpr uint32_t kW = 64;
constexpr uint32_t kH = 16;

struct Ring {
  explicit Ring(uint32_t slots, FrameConsumer::WaitMode mode = FrameConsumer::WaitMode::kFutex) {
    FrameRingConfig config;
    config.slot_count = slots;
    config.mode = *makeGeometry(abi::PixelFormat::kBgra, kW, kH);
    owner.emplace(std::move(*createFrameRing(config)));
    producer.emplace(std::move(*FrameProducer::attach(*SharedMemory::attachDup(owner->handle()))));
    consumer.emplace(
        std::move(*FrameConsumer::attach(*SharedMemory::attachDup(owner->handle()), mode)));
  }
  const abi::FrameRingHeader& header() const {
    return *reinterpret_cast<const abi::FrameRingHeader*>(owner->data());
  }
  // Publishes a frame whose payload bytes are all `fill`.
  uint64_t publish(uint8_t fill, uint64_t time = 1) {
    auto slot = producer->beginFrame();
    if (!slot) return 0;
    std::memset(slot->payload.data(), fill, kW * kH * 4);
    FrameMeta meta;
    meta.capture_time_ns = time;
    return producer->publish(*slot, meta);
  }
  std::optional<SharedMemory> owner;
  std::optional<FrameProducer> producer;
  std::optional<FrameConsumer> consumer;
};

TEST(FrameRing, PublishedFrameReachesConsumerIntact) {
  Ring r(3);
  const uint64_t token = r.publish(0x5A, 12345);
  ASSERT_NE(token, 0u);
  FrameConsumer::Frame f;
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.token, token);
  EXPECT_EQ(f.capture_time_ns, 12345u);
  EXPECT_EQ(f.geometry.width, kW);
  EXPECT_EQ(f.geometry.height, kH);
  ASSERT_EQ(f.payload.size(), size_t{kW} * kH * 4);
  for (std::byte b : f.payload) ASSERT_EQ(b, std::byte{0x5A});
  r.consumer->release(f);
  EXPECT_EQ(atomicLoad(r.header().published), 1u);
  EXPECT_EQ(atomicLoad(r.header().consumed), 1u);
}

TEST(FrameRing, ConsumerKeepsTheLastFrameWhileTakingTheNext) {
  // An encoder holds its last frame (to repeat it if capture restarts) until the next arrives.
  Ring r(4);
  r.publish(0x11, 1);
  FrameConsumer::Frame last;
  ASSERT_EQ(r.consumer->acquireLatest(0, &last), Status::kFrame);
  for (int i = 0; i < 10; ++i) {
    ASSERT_NE(r.publish(static_cast<uint8_t>(0x20 + i), 2 + i), 0u)
        << "the producer still finds slots while one frame is kept";
    FrameConsumer::Frame next;
    ASSERT_EQ(r.consumer->acquireLatest(0, &next), Status::kFrame);
    EXPECT_EQ(r.consumer->heldCount(), 2u);
    EXPECT_NE(next.slot, last.slot);
    EXPECT_EQ(next.payload[0], std::byte(0x20 + i));
    for (std::byte b : last.payload) ASSERT_EQ(b, std::byte(i == 0 ? 0x11 : 0x20 + i - 1));
    r.consumer->release(last);
    last = next;
  }
  EXPECT_EQ(r.consumer->heldCount(), 1u);
  r.consumer->release(last);
  EXPECT_EQ(r.consumer->heldCount(), 0u);
  EXPECT_EQ(atomicLoad(r.header().dropped), 0u);
}

TEST(FrameRing, TimeoutIsReportedAsTimeoutNotAFrame) {
  Ring r(3);
  FrameConsumer::Frame f;
  EXPECT_EQ(r.consumer->acquireLatest(0, &f), Status::kTimeout);
  EXPECT_EQ(r.consumer->acquireLatest(20'000'000, &f), Status::kTimeout);
  r.publish(1);
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  r.consumer->release(f);
  EXPECT_EQ(r.consumer->acquireLatest(10'000'000, &f), Status::kTimeout)
      << "the same frame is never handed out twice";
}

TEST(FrameRing, ConsumerTakesTheLatestNotTheOldest) {
  Ring r(4);
  r.publish(1);
  r.publish(2);
  const uint64_t third = r.publish(3);
  FrameConsumer::Frame f;
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.token, third);
  EXPECT_EQ(f.payload[0], std::byte{3});
  r.consumer->release(f);
}

TEST(FrameRing, PipelineDepthTwo) {
  Ring r(3);
  r.publish(1);
  FrameConsumer::Frame held;
  ASSERT_EQ(r.consumer->acquireLatest(0, &held), Status::kFrame);
  // While the consumer holds frame 1, the producer fills and publishes more.
  const uint64_t second = r.publish(2);
  const uint64_t third = r.publish(3);
  ASSERT_NE(second, 0u);
  ASSERT_NE(third, 0u);
  EXPECT_NE(abi::tokenSlot(third), held.slot);
  EXPECT_EQ(held.payload[0], std::byte{1}) << "the held slot is never written";
  r.consumer->release(held);
  FrameConsumer::Frame next;
  ASSERT_EQ(r.consumer->acquireLatest(0, &next), Status::kFrame);
  EXPECT_EQ(next.token, third);
  r.consumer->release(next);
  EXPECT_EQ(atomicLoad(r.header().dropped), 0u);
}

TEST(FrameRing, ProducerNeverBlocksAndCountsDropsWhenEverySlotIsHeld) {
  Ring r(3);
  // Something (say, a stuck consumer that is still alive) holds every slot.
  for (uint32_t i = 0; i < 3; ++i)
    ASSERT_EQ(r.consumer->mutex(i).tryAcquire(abi::kKeyEmpty), AcquireResult::kAcquired);
  EXPECT_FALSE(r.producer->beginFrame().has_value());
  EXPECT_FALSE(r.producer->beginFrame().has_value());
  EXPECT_EQ(atomicLoad(r.header().dropped), 2u);
  ASSERT_TRUE(r.consumer->mutex(1).release(abi::kKeyEmpty).ok());
  auto slot = r.producer->beginFrame();
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(slot->slot, 1u);
  r.producer->cancel(*slot);
}

TEST(FrameRing, UnconsumedFramesAreRecycledAndCounted) {
  Ring r(3);
  for (int i = 0; i < 10; ++i) ASSERT_NE(r.publish(static_cast<uint8_t>(i)), 0u);
  EXPECT_EQ(atomicLoad(r.header().dropped), 0u);
  EXPECT_EQ(atomicLoad(r.header().overwritten), 7u);  // 3 slots fill, then each publish recycles
}

TEST(FrameRing, TwoSlotsStillFlowWhileConsumerHoldsOne) {
  Ring r(2);
  r.publish(1);
  FrameConsumer::Frame held;
  ASSERT_EQ(r.consumer->acquireLatest(0, &held), Status::kFrame);
  for (int i = 0; i < 5; ++i) EXPECT_NE(r.publish(static_cast<uint8_t>(10 + i)), 0u);
  r.consumer->release(held);
  FrameConsumer::Frame f;
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.payload[0], std::byte{14});
  r.consumer->release(f);
}

TEST(FrameRing, ModeChangeStartsNewGenerationAndOldFramesAreRejected) {
  Ring r(3);
  const uint64_t old_token = r.publish(1);
  const uint32_t old_gen = r.producer->generation();
  auto bigger = makeGeometry(abi::PixelFormat::kBgra, kW / 2, kH);
  ASSERT_TRUE(r.producer->setMode(*bigger).ok());
  EXPECT_NE(r.producer->generation(), old_gen);
  FrameConsumer::Frame f;
  EXPECT_EQ(r.consumer->acquireLatest(10'000'000, &f), Status::kTimeout)
      << "frame of generation " << abi::tokenGeneration(old_token) << " must be refused";
  const uint64_t fresh = r.publish(2);
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.token, fresh);
  EXPECT_EQ(f.geometry.width, kW / 2);
  r.consumer->release(f);
}

TEST(FrameRing, ModeThatDoesNotFitIsRefused) {
  Ring r(3);
  auto huge = makeGeometry(abi::PixelFormat::kBgra, 1920, 1080);
  auto result = r.producer->setMode(*huge);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("capacity"), std::string::npos);
}

TEST(FrameRing, RestartedProducerInvalidatesThePreviousGeneration) {
  Ring r(3);
  r.publish(1);
  r.producer.reset();  // the old producer goes away
  auto again = FrameProducer::attach(*SharedMemory::attachDup(r.owner->handle()));
  ASSERT_TRUE(again.ok()) << again.error().message;
  FrameConsumer::Frame f;
  EXPECT_EQ(r.consumer->acquireLatest(10'000'000, &f), Status::kTimeout);
  auto slot = again->beginFrame();
  ASSERT_TRUE(slot.has_value());
  const uint64_t token = again->publish(*slot, FrameMeta{});
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.token, token);
  r.consumer->release(f);
}

TEST(FrameRing, SecondLiveProducerIsRefused) {
  Ring r(3);
  uint32_t& pid = reinterpret_cast<abi::FrameRingHeader*>(r.owner->data())->producer_pid;
  pid = test::livePeerPid();  // pretend another live process produces
  auto second = FrameProducer::attach(*SharedMemory::attachDup(r.owner->handle()));
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("producer is already attached"), std::string::npos)
      << second.error().message;
  pid = test::deadPid();  // a dead one is replaced
  EXPECT_TRUE(FrameProducer::attach(*SharedMemory::attachDup(r.owner->handle())).ok());
}

// Fills the payload of every slot but `except` with a byte no frame of these tests carries.
void markOtherSlots(Ring& r, uint32_t except) {
  for (uint32_t i = 0; i < r.producer->slotCount(); ++i)
    if (i != except)
      std::memset(r.producer->payload(i), 0xEE, r.producer->layout().payload_capacity);
}

bool otherSlotsUntouched(Ring& r, uint32_t except) {
  for (uint32_t i = 0; i < r.producer->slotCount(); ++i) {
    if (i == except) continue;
    const std::byte* p = r.producer->payload(i);
    for (uint64_t b = 0; b < r.producer->layout().payload_capacity; ++b)
      if (p[b] != std::byte{0xEE}) return false;
  }
  return true;
}

TEST(FrameRing, RepeatLastRepublishesThePicturesOwnSlotWithoutACopy) {
  Ring r(3);
  const uint64_t original = r.publish(0x77, 100);
  const uint32_t slot = abi::tokenSlot(original);
  markOtherSlots(r, slot);
  // Nobody took the picture yet: its slot goes out again under a newer token.
  auto repeat = r.producer->repeatLast(200);
  ASSERT_TRUE(repeat.has_value());
  EXPECT_EQ(abi::tokenSlot(*repeat), slot);
  EXPECT_TRUE(abi::sequenceNewer(abi::tokenSequence(*repeat), abi::tokenSequence(original)));
  EXPECT_TRUE(otherSlotsUntouched(r, slot)) << "a repeat wrote into another slot";
  FrameConsumer::Frame f;
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.token, *repeat);
  EXPECT_EQ(f.content_token, original);
  EXPECT_EQ(f.capture_time_ns, 200u);
  EXPECT_EQ(f.flags, abi::kSlotFlagRepeat);
  ASSERT_EQ(f.payload.size(), size_t{kW} * kH * 4);
  for (std::byte b : f.payload) ASSERT_EQ(b, std::byte{0x77});
  r.consumer->release(f);
  // Taken and given back: the same slot again, still no other slot written.
  auto again = r.producer->repeatLast(300);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(abi::tokenSlot(*again), slot);
  EXPECT_TRUE(otherSlotsUntouched(r, slot));
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.token, *again);
  EXPECT_EQ(f.content_token, original);
  EXPECT_EQ(f.capture_time_ns, 300u);
  r.consumer->release(f);
  EXPECT_EQ(atomicLoad(r.header().repeated), 2u);
  EXPECT_EQ(atomicLoad(r.header().published), 3u);
  EXPECT_EQ(atomicLoad(r.header().overwritten), 0u);
}

TEST(FrameRing, RepeatWhileTheConsumerHoldsThePictureCarriesNoPayload) {
  Ring r(3);
  const uint64_t original = r.publish(0x77, 100);
  const uint32_t slot = abi::tokenSlot(original);
  FrameConsumer::Frame held;
  ASSERT_EQ(r.consumer->acquireLatest(0, &held), Status::kFrame);
  EXPECT_EQ(held.content_token, original) << "a fresh frame is its own content";
  markOtherSlots(r, slot);
  auto repeat = r.producer->repeatLast(200);
  ASSERT_TRUE(repeat.has_value());
  EXPECT_NE(abi::tokenSlot(*repeat), slot);
  EXPECT_TRUE(otherSlotsUntouched(r, slot)) << "a payload-free repeat wrote pixels";
  const auto& header = r.producer->slot(abi::tokenSlot(*repeat));
  EXPECT_EQ(header.payload_size, 0u);
  EXPECT_EQ(header.content_token, original);
  FrameConsumer::Frame f;
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.token, *repeat);
  EXPECT_EQ(f.flags, abi::kSlotFlagRepeat | abi::kSlotFlagNoPayload);
  EXPECT_EQ(f.content_token, original);
  EXPECT_EQ(f.capture_time_ns, 200u);
  EXPECT_TRUE(f.payload.empty());
  EXPECT_EQ(f.geometry.width, kW);
  r.consumer->release(f);
  r.consumer->release(held);
  // The picture's slot is free again: the next repeat re-publishes it, with its payload.
  auto in_place = r.producer->repeatLast(300);
  ASSERT_TRUE(in_place.has_value());
  EXPECT_EQ(abi::tokenSlot(*in_place), slot);
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.flags, abi::kSlotFlagRepeat);
  EXPECT_EQ(f.content_token, original);
  for (std::byte b : f.payload) ASSERT_EQ(b, std::byte{0x77});
  r.consumer->release(f);
}

TEST(FrameRing, PayloadFreeRepeatOfAPictureTheConsumerDoesNotHaveIsRejected) {
  Ring r(3);
  const uint64_t original = r.publish(0x77, 100);
  FrameConsumer::Frame held;
  ASSERT_EQ(r.consumer->acquireLatest(0, &held), Status::kFrame);
  auto repeat = r.producer->repeatLast(200);
  ASSERT_TRUE(repeat.has_value());
  // As if the consumer had never had that picture (a producer that lies, or a new consumer).
  r.producer->slot(abi::tokenSlot(*repeat)).content_token = original + 1;
  FrameConsumer::Frame f;
  EXPECT_EQ(r.consumer->acquireLatest(0, &f), Status::kTimeout);
  EXPECT_EQ(atomicLoad(r.header().stale_rejected), 1u);
  r.consumer->release(held);
}

TEST(FrameRing, PublishClearsRepeatFlagsAndAModeChangeEndsRepeats) {
  Ring r(3);
  auto slot = r.producer->beginFrame();
  FrameMeta meta;
  meta.flags = abi::kSlotFlagRepeat | abi::kSlotFlagNoPayload;  // only repeatLast sets these
  const uint64_t token = r.producer->publish(*slot, meta);
  FrameConsumer::Frame f;
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.flags, 0u);
  EXPECT_EQ(f.content_token, token);
  EXPECT_EQ(f.payload.size(), size_t{kW} * kH * 4);
  r.consumer->release(f);
  EXPECT_TRUE(r.producer->canRepeat());
  ASSERT_TRUE(r.producer->setMode(*makeGeometry(abi::PixelFormat::kBgra, kW / 2, kH)));
  EXPECT_FALSE(r.producer->canRepeat()) << "a picture of the old mode is not repeated";
  EXPECT_FALSE(r.producer->repeatLast(2).has_value());
}

TEST(FrameRing, RepeatLastWithNothingPublishedDoesNothing) {
  Ring r(3);
  EXPECT_FALSE(r.producer->repeatLast(1).has_value());
  EXPECT_EQ(atomicLoad(r.header().published), 0u);
}

TEST(FrameRing, SlotHeaderNoProducerWouldWriteIsNeverHandedOn) {
  Ring r(3);
  const uint64_t token = r.publish(1);
  auto& slot = r.consumer->slot(abi::tokenSlot(token));
  slot.payload_size = uint64_t{1} << 40;  // a hostile or broken producer
  FrameConsumer::Frame f;
  EXPECT_EQ(r.consumer->acquireLatest(0, &f), Status::kTimeout);
  EXPECT_EQ(atomicLoad(r.header().stale_rejected), 1u);
  EXPECT_EQ(r.consumer->mutex(abi::tokenSlot(token)).releasedKey(), abi::kKeyEmpty)
      << "the refused slot goes back to the producer";
  const uint64_t next = r.publish(2);
  ASSERT_EQ(r.consumer->acquireLatest(0, &f), Status::kFrame);
  EXPECT_EQ(f.token, next);
  r.consumer->release(f);
}

TEST(FrameRing, LatestTokenWithSlotOutOfRangeIsIgnored) {
  Ring r(3);
  r.publish(1);
  auto& latest = reinterpret_cast<abi::FrameRingHeader*>(r.owner->data())->latest;
  latest = abi::packToken(r.producer->generation(), 1000, 200);
  FrameConsumer::Frame f;
  EXPECT_EQ(r.consumer->acquireLatest(0, &f), Status::kTimeout);
  EXPECT_EQ(atomicLoad(r.header().stale_rejected), 1u);
}

TEST(FrameRing, SlotsHeldByDeadProcessesAreRecoveredOnAttach) {
  Ring r(3);
  const uint32_t dead = test::deadPid();
  r.consumer->slot(1).mutex = abi::kMutexHeld | dead;
  r.consumer.reset();
  auto consumer = FrameConsumer::attach(*SharedMemory::attachDup(r.owner->handle()));
  ASSERT_TRUE(consumer.ok());
  EXPECT_EQ(consumer->mutex(1).releasedKey(), abi::kKeyEmpty);
  EXPECT_TRUE(consumer->slot(1).flags & abi::kSlotFlagAbandoned);
  EXPECT_EQ(atomicLoad(r.header().abandoned), 1u);
}

TEST(FrameRing, ConsumerWakesFromFutexAndBusyPoll) {
  for (auto mode : {FrameConsumer::WaitMode::kFutex, FrameConsumer::WaitMode::kBusyPoll}) {
    Ring r(3, mode);
    std::thread producer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      r.publish(9);
    });
    FrameConsumer::Frame f;
    EXPECT_EQ(r.consumer->acquireLatest(10'000'000'000, &f), Status::kFrame);
    EXPECT_EQ(f.payload[0], std::byte{9});
    r.consumer->release(f);
    producer.join();
  }
}

TEST(FrameRing, GeometryHelpers) {
  auto nv12 = makeGeometry(abi::PixelFormat::kNv12, 1920, 1080);
  ASSERT_TRUE(nv12.ok());
  EXPECT_EQ(nv12->plane_count, 2u);
  EXPECT_EQ(nv12->stride[0], 1920u);
  EXPECT_EQ(nv12->plane_offset[1], 1920u * 1080u);
  EXPECT_EQ(*framePayloadSize(*nv12), 1920u * 1080u * 3 / 2);
  auto odd = makeGeometry(abi::PixelFormat::kI420, 33, 17);
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->plane_count, 3u);
  EXPECT_TRUE(framePayloadSize(*odd).ok());
  abi::FrameGeometry overlapping = *nv12;
  overlapping.plane_offset[1] = 100;
  auto bad = framePayloadSize(overlapping);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("overlaps"), std::string::npos);
  abi::FrameGeometry narrow = *nv12;
  narrow.stride[0] = 100;
  EXPECT_FALSE(framePayloadSize(narrow).ok());
  EXPECT_FALSE(makeGeometry(abi::PixelFormat::kUnknown, 10, 10).ok());
}

}  // namespace
}  // namespace funkhaus
