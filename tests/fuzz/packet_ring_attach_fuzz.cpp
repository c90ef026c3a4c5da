// Fuzz target: a packet ring whose header and records come from an untrusted peer. Attach must
// refuse or succeed; the consumer must return records inside the mapping or clear errors.
// fuzz-parser: common/source/packet_ring.cpp
#include <cstddef>
#include <cstdint>
#include <vector>

#include "funkhaus/common/packet_ring.h"
#include "fuzz_memfd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus;
  // The layout first, on the input itself: most mutants fail it, and need no memfd.
  auto layout = validatePacketRing(reinterpret_cast<const std::byte*>(data), size);
  if (!layout) return 0;
  SharedMemory* shm = fuzz::memfdFrom(data, size);
  if (shm == nullptr) return 0;
  auto* h = reinterpret_cast<abi::PacketRingHeader*>(shm->data());
  h->producer_pid = 0;
  h->consumer_pid = 0;
  auto consumer = PacketConsumer::attach(*SharedMemory::attachDup(shm->handle()));
  if (!consumer) return 0;
  for (int i = 0; i < 64; ++i) {
    auto rec = consumer->peek();
    if (!rec || !rec->has_value()) break;
    volatile std::byte sink{};
    for (std::byte b : (*rec)->payload) sink = b;
    (void)sink;
    consumer->pop();
  }
  auto producer = PacketProducer::attach(*SharedMemory::attachDup(shm->handle()));
  if (!producer) return 0;
  const std::byte payload[100] = {};
  for (int i = 0; i < 8; ++i) producer->push(PacketMeta{}, payload);
  for (int i = 0; i < 16; ++i) {
    auto rec = consumer->peek();
    if (!rec || !rec->has_value()) break;
    consumer->pop();
  }
  return 0;
}

// A valid ring holding committed records that wrap, so mutations reach the record parser.
std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus;
  PacketRingConfig config;
  config.capacity = 1024;
  config.max_record_size = 256;
  auto ring = createPacketRing(config);
  {
    auto producer = PacketProducer::attach(*SharedMemory::attachDup(ring->handle()));
    auto consumer = PacketConsumer::attach(*SharedMemory::attachDup(ring->handle()));
    const std::byte payload[200] = {};
    for (int i = 0; i < 4; ++i) producer->push(PacketMeta{}, payload);
    for (int i = 0; i < 3; ++i) {
      (void)consumer->peek();
      consumer->pop();
    }
    for (int i = 0; i < 3; ++i) producer->push(PacketMeta{}, payload);
  }
  auto* p = reinterpret_cast<const uint8_t*>(ring->data());
  return {std::vector<uint8_t>(p, p + ring->size())};
}
