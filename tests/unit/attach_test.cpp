// Attach refusal: every header field that is wrong is named in the error, and nothing attaches.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"

namespace funkhaus {
namespace {

using abi::FrameRingHeader;
using abi::PacketRingHeader;

SharedMemory smallFrameRing() {
  FrameRingConfig config;
  config.slot_count = 3;
  config.mode = *makeGeometry(abi::PixelFormat::kBgra, 64, 32);
  auto shm = createFrameRing(config);
  if (!shm) std::abort();
  return std::move(*shm);
}

struct FrameCase {
  const char* what;
  std::function<void(FrameRingHeader&)> corrupt;
  const char* expected;  // must appear in the error
};

void PrintTo(const FrameCase& c, std::ostream* os) { *os << c.what; }

class FrameRingAttachRefusal : public ::testing::TestWithParam<FrameCase> {};

TEST_P(FrameRingAttachRefusal, NamesTheBadField) {
  const FrameCase& c = GetParam();
  SharedMemory shm = smallFrameRing();
  ASSERT_TRUE(validateFrameRing(shm.data(), shm.size()).ok());
  c.corrupt(*reinterpret_cast<FrameRingHeader*>(shm.data()));
  auto layout = validateFrameRing(shm.data(), shm.size());
  ASSERT_FALSE(layout.ok()) << c.what;
  EXPECT_NE(layout.error().message.find(c.expected), std::string::npos)
      << c.what << ": " << layout.error().message;
  // Both sides refuse too, with the same message.
  auto consumer = FrameConsumer::attach(*SharedMemory::attachDup(shm.handle()));
  ASSERT_FALSE(consumer.ok());
  EXPECT_EQ(consumer.error().message, layout.error().message);
  auto producer = FrameProducer::attach(*SharedMemory::attachDup(shm.handle()));
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.error().message, layout.error().message);
}

INSTANTIATE_TEST_SUITE_P(
    Header, FrameRingAttachRefusal,
    ::testing::Values(
        FrameCase{"magic", [](FrameRingHeader& h) { h.magic = 0xDEADBEEF; }, "bad magic"},
        FrameCase{"version", [](FrameRingHeader& h) { h.abi_version = 99; }, "ABI version 99"},
        FrameCase{"header size", [](FrameRingHeader& h) { h.header_size = 128; }, "header_size"},
        FrameCase{"slot header size", [](FrameRingHeader& h) { h.slot_header_size = 64; },
                  "slot_header_size"},
        FrameCase{"zero slots", [](FrameRingHeader& h) { h.slot_count = 0; }, "slot_count"},
        FrameCase{"too many slots", [](FrameRingHeader& h) { h.slot_count = 256; }, "slot_count"},
        FrameCase{"more slots than memory", [](FrameRingHeader& h) { h.slot_count = 200; },
                  "do not fit"},
        FrameCase{"payload offset inside slot header",
                  [](FrameRingHeader& h) { h.payload_offset = 64; }, "payload_offset"},
        FrameCase{"payload offset misaligned", [](FrameRingHeader& h) { h.payload_offset = 130; },
                  "payload_offset"},
        FrameCase{"zero capacity", [](FrameRingHeader& h) { h.payload_capacity = 0; },
                  "payload_capacity is 0"},
        FrameCase{"stride smaller than a slot", [](FrameRingHeader& h) { h.slot_stride = 256; },
                  "slot_stride"},
        FrameCase{"stride overflow",
                  [](FrameRingHeader& h) { h.payload_capacity = ~uint64_t{0} - 8; }, "slot_stride"},
        FrameCase{"huge stride", [](FrameRingHeader& h) { h.slot_stride = uint64_t{1} << 62; },
                  "do not fit"},
        FrameCase{"slots offset inside header", [](FrameRingHeader& h) { h.slots_offset = 64; },
                  "slots_offset"},
        FrameCase{"slots offset past the end",
                  [](FrameRingHeader& h) { h.slots_offset = h.total_size; }, "do not fit"},
        FrameCase{"total size", [](FrameRingHeader& h) { h.total_size += 4096; }, "total_size"},
        FrameCase{"mode bigger than capacity", [](FrameRingHeader& h) { h.mode.height = 4000; },
                  "mode"},
        FrameCase{"mode with unknown format", [](FrameRingHeader& h) { h.mode.format = 77; },
                  "unknown pixel format"}),
    [](const auto& test_case) {
      std::string name = test_case.param.what;
      for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name;
    });

TEST(FrameRingAttach, MappingSmallerThanHeaderIsRefused) {
  unsigned char bytes[100] = {};
  auto layout = validateFrameRing(reinterpret_cast<std::byte*>(bytes), sizeof bytes);
  ASSERT_FALSE(layout.ok());
  EXPECT_NE(layout.error().message.find("smaller than its 256-byte header"), std::string::npos);
}

TEST(FrameRingAttach, ValidRingAttachesBothSides) {
  SharedMemory shm = smallFrameRing();
  auto producer = FrameProducer::attach(*SharedMemory::attachDup(shm.handle()));
  ASSERT_TRUE(producer.ok()) << producer.error().message;
  auto consumer = FrameConsumer::attach(*SharedMemory::attachDup(shm.handle()));
  ASSERT_TRUE(consumer.ok()) << consumer.error().message;
  EXPECT_EQ(consumer->slotCount(), 3u);
}

TEST(FrameRingCreate, RefusesBadConfig) {
  FrameRingConfig config;
  config.mode = *makeGeometry(abi::PixelFormat::kBgra, 64, 32);
  config.slot_count = 1;
  auto one = createFrameRing(config);
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.error().message.find("slot_count 1"), std::string::npos);
  config.slot_count = 3;
  config.mode.width = 0;
  auto zero = createFrameRing(config);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("out of range"), std::string::npos);
}

// --- packet ring ---

SharedMemory smallPacketRing() {
  PacketRingConfig config;
  config.capacity = 4096;
  config.max_record_size = 1024;
  auto shm = createPacketRing(config);
  if (!shm) std::abort();
  return std::move(*shm);
}

struct PacketCase {
  const char* what;
  std::function<void(PacketRingHeader&)> corrupt;
  const char* expected;
};

void PrintTo(const PacketCase& c, std::ostream* os) { *os << c.what; }

class PacketRingAttachRefusal : public ::testing::TestWithParam<PacketCase> {};

TEST_P(PacketRingAttachRefusal, NamesTheBadField) {
  const PacketCase& c = GetParam();
  SharedMemory shm = smallPacketRing();
  ASSERT_TRUE(validatePacketRing(shm.data(), shm.size()).ok());
  c.corrupt(*reinterpret_cast<PacketRingHeader*>(shm.data()));
  auto layout = validatePacketRing(shm.data(), shm.size());
  ASSERT_FALSE(layout.ok()) << c.what;
  EXPECT_NE(layout.error().message.find(c.expected), std::string::npos)
      << c.what << ": " << layout.error().message;
  EXPECT_FALSE(PacketConsumer::attach(*SharedMemory::attachDup(shm.handle())).ok());
  EXPECT_FALSE(PacketProducer::attach(*SharedMemory::attachDup(shm.handle())).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Header, PacketRingAttachRefusal,
    ::testing::Values(
        PacketCase{"magic", [](PacketRingHeader& h) { h.magic = 1; }, "bad magic"},
        PacketCase{"version", [](PacketRingHeader& h) { h.abi_version = 99; }, "ABI version 99"},
        PacketCase{"header size", [](PacketRingHeader& h) { h.header_size = 64; }, "header_size"},
        PacketCase{"record header size", [](PacketRingHeader& h) { h.record_header_size = 16; },
                   "record_header_size"},
        PacketCase{"record align", [](PacketRingHeader& h) { h.record_align = 8; }, "record_align"},
        PacketCase{"data offset", [](PacketRingHeader& h) { h.data_offset = 100; }, "data_offset"},
        PacketCase{"capacity unaligned", [](PacketRingHeader& h) { h.capacity = 4016; },
                   "capacity"},
        PacketCase{"capacity past the end", [](PacketRingHeader& h) { h.capacity = 1 << 20; },
                   "does not fit"},
        PacketCase{"data past the end", [](PacketRingHeader& h) { h.data_offset = 1 << 20; },
                   "does not fit"},
        PacketCase{"max record too big", [](PacketRingHeader& h) { h.max_record_size = 4000; },
                   "max_record_size"},
        PacketCase{"total size", [](PacketRingHeader& h) { h.total_size = 1; }, "total_size"}),
    [](const auto& test_case) {
      std::string name = test_case.param.what;
      for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name;
    });

}  // namespace
}  // namespace funkhaus
