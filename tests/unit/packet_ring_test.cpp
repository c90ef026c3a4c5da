// Packet ring: records round-trip, wrap with padding, whole-record drops with a discontinuity,
// restarts, and records no honest producer could write.
#include "funkhaus/common/packet_ring.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace funkhaus {
namespace {

using abi::atomicLoad;

struct Ring {
  explicit Ring(uint64_t capacity = 4096, uint32_t max_record = 1024) {
    PacketRingConfig config;
    config.capacity = capacity;
    config.max_record_size = max_record;
    owner.emplace(std::move(*createPacketRing(config)));
    producer.emplace(std::move(*PacketProducer::attach(*SharedMemory::attachDup(owner->handle()))));
    consumer.emplace(std::move(*PacketConsumer::attach(*SharedMemory::attachDup(owner->handle()))));
  }
  abi::PacketRingHeader& header() {
    return *reinterpret_cast<abi::PacketRingHeader*>(owner->data());
  }
  PacketProducer::PushResult push(uint64_t frame, size_t size, uint32_t flags = 0) {
    std::vector<std::byte> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = std::byte(static_cast<uint8_t>(frame * 31 + i));
    PacketMeta meta;
    meta.frame_number = frame;
    meta.capture_time_ns = frame * 1000;
    meta.flags = flags;
    return producer->push(meta, bytes);
  }
  // Pops one record and checks its payload pattern; returns its header.
  abi::PacketRecordHeader pop() {
    auto rec = consumer->peek();
    EXPECT_TRUE(rec.ok());
    EXPECT_TRUE(rec->has_value());
    abi::PacketRecordHeader h = (*rec)->header;
    for (size_t i = 0; i < (*rec)->payload.size(); ++i)
      EXPECT_EQ((*rec)->payload[i], std::byte(static_cast<uint8_t>(h.frame_number * 31 + i)))
          << "frame " << h.frame_number << " byte " << i;
    consumer->pop();
    return h;
  }
  std::optional<SharedMemory> owner;
  std::optional<PacketProducer> producer;
  std::optional<PacketConsumer> consumer;
};

TEST(PacketRing, RecordRoundTripsWithMetadata) {
  Ring r;
  ASSERT_EQ(r.push(7, 100, abi::kRecordFlagKeyframe), PacketProducer::PushResult::kCommitted);
  auto h = r.pop();
  EXPECT_EQ(h.frame_number, 7u);
  EXPECT_EQ(h.capture_time_ns, 7000u);
  EXPECT_EQ(h.size, 100u);
  EXPECT_TRUE(h.flags & abi::kRecordFlagKeyframe);
  EXPECT_TRUE(h.flags & abi::kRecordFlagDiscontinuity) << "first record after producer attach";
  EXPECT_FALSE(h.flags & abi::kRecordFlagRepeat);
  ASSERT_EQ(r.push(8, 0, abi::kRecordFlagRepeat), PacketProducer::PushResult::kCommitted);
  h = r.pop();
  EXPECT_EQ(h.frame_number, 8u);
  EXPECT_FALSE(h.flags & abi::kRecordFlagDiscontinuity);
  EXPECT_TRUE(h.flags & abi::kRecordFlagRepeat) << "a re-encoded static picture stays marked";
  auto none = r.consumer->peek();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(PacketRing, ManyRecordsWrapAroundIntact) {
  Ring r(4096, 1024);
  std::mt19937 rng(1);
  uint64_t next_push = 0, next_pop = 0;
  for (int round = 0; round < 5000; ++round) {
    while (r.push(next_push, rng() % 1000) == PacketProducer::PushResult::kCommitted) ++next_push;
    // The failed push was a drop; the producer will flag the next record.
    const uint64_t drop_frame = next_push++;
    (void)drop_frame;
    int n = 1 + static_cast<int>(rng() % 3);
    while (n-- > 0) {
      auto rec = r.consumer->peek();
      ASSERT_TRUE(rec.ok()) << rec.error().message;
      if (!rec->has_value()) break;
      EXPECT_GE((*rec)->header.frame_number, next_pop);
      next_pop = (*rec)->header.frame_number + 1;
      r.pop();
    }
  }
  EXPECT_GT(atomicLoad(r.header().head), 4096u * 100) << "wrapped many times";
  EXPECT_EQ(r.consumer->corruptions(), 0u);
}

TEST(PacketRing, OverflowDropsWholeRecordsAndFlagsDiscontinuity) {
  Ring r(4096, 1024);
  int committed = 0;
  for (uint64_t f = 0; f < 10; ++f)
    if (r.push(f, 1000) == PacketProducer::PushResult::kCommitted) ++committed;
  EXPECT_EQ(committed, 3);  // a record takes 1056 bytes: three fit in 4096
  EXPECT_EQ(atomicLoad(r.header().dropped_records), 7u);
  EXPECT_EQ(atomicLoad(r.header().dropped_bytes), 7000u);
  for (int i = 0; i < committed; ++i) {
    auto h = r.pop();
    EXPECT_EQ(h.frame_number, static_cast<uint64_t>(i)) << "committed records are intact";
  }
  ASSERT_EQ(r.push(42, 10), PacketProducer::PushResult::kCommitted);
  auto h = r.pop();
  EXPECT_EQ(h.frame_number, 42u);
  EXPECT_TRUE(h.flags & abi::kRecordFlagDiscontinuity);
}

TEST(PacketRing, TooLargeRecordIsRefusedAndFlagged) {
  Ring r(4096, 1024);
  EXPECT_EQ(r.push(1, 1025), PacketProducer::PushResult::kTooLarge);
  ASSERT_EQ(r.push(2, 10), PacketProducer::PushResult::kCommitted);
  auto h = r.pop();
  EXPECT_EQ(h.frame_number, 2u);
  EXPECT_TRUE(h.flags & abi::kRecordFlagDiscontinuity);
}

TEST(PacketRing, RestartedProducerContinuesAndFlagsDiscontinuity) {
  Ring r;
  ASSERT_EQ(r.push(1, 10), PacketProducer::PushResult::kCommitted);
  r.pop();
  ASSERT_EQ(r.push(2, 10), PacketProducer::PushResult::kCommitted);
  r.producer.reset();
  r.producer.emplace(
      std::move(*PacketProducer::attach(*SharedMemory::attachDup(r.owner->handle()))));
  ASSERT_EQ(r.push(3, 10), PacketProducer::PushResult::kCommitted);
  auto h2 = r.pop();
  EXPECT_EQ(h2.frame_number, 2u) << "a record committed before the restart is not lost";
  auto h3 = r.pop();
  EXPECT_EQ(h3.frame_number, 3u);
  EXPECT_TRUE(h3.flags & abi::kRecordFlagDiscontinuity);
}

TEST(PacketRing, RestartedConsumerContinuesFromTail) {
  Ring r;
  ASSERT_EQ(r.push(1, 10), PacketProducer::PushResult::kCommitted);
  ASSERT_EQ(r.push(2, 10), PacketProducer::PushResult::kCommitted);
  r.pop();
  r.consumer.reset();
  r.consumer.emplace(
      std::move(*PacketConsumer::attach(*SharedMemory::attachDup(r.owner->handle()))));
  EXPECT_EQ(r.pop().frame_number, 2u);
}

TEST(PacketRing, CorruptRecordHeaderIsAnErrorAndTheConsumerResyncs) {
  Ring r;
  ASSERT_EQ(r.push(1, 10), PacketProducer::PushResult::kCommitted);
  // Scribble a size no honest producer writes over the committed record.
  auto* rec = reinterpret_cast<abi::PacketRecordHeader*>(r.owner->data() + 4096);
  rec->size = 1'000'000;
  auto bad = r.consumer->peek();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("does not fit"), std::string::npos) << bad.error().message;
  EXPECT_EQ(r.consumer->corruptions(), 1u);
  ASSERT_EQ(r.push(2, 10), PacketProducer::PushResult::kCommitted);
  auto h = r.pop();
  EXPECT_EQ(h.frame_number, 2u);
  EXPECT_TRUE(h.flags & abi::kRecordFlagDiscontinuity);
}

TEST(PacketRing, HeadOutOfRangeIsAnError) {
  Ring r;
  r.header().head = 1u << 30;
  auto bad = r.consumer->peek();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("head out of range"), std::string::npos);
}

TEST(PacketRing, WaitTimesOutThenWakesOnCommit) {
  Ring r;
  EXPECT_EQ(r.consumer->wait(10'000'000), PacketConsumer::Status::kTimeout);
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    r.push(5, 10);
  });
  EXPECT_EQ(r.consumer->wait(10'000'000'000), PacketConsumer::Status::kRecord);
  producer.join();
  EXPECT_EQ(r.pop().frame_number, 5u);
}

TEST(PacketRing, CreateRefusesBadConfig) {
  PacketRingConfig config;
  config.capacity = 4096;
  config.max_record_size = 4096;
  auto r = createPacketRing(config);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("max_record_size"), std::string::npos);
  config.capacity = 10;
  EXPECT_FALSE(createPacketRing(config).ok());
}

}  // namespace
}  // namespace funkhaus
