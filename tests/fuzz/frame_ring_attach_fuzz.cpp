// Fuzz target: a frame ring whose every byte comes from an untrusted peer. Attach must refuse
// or succeed; after a successful attach, both sides must survive whatever the slots contain.
// fuzz-parser: common/source/frame_ring.cpp
#include <cstddef>
#include <cstdint>
#include <vector>

#include "funkhaus/common/frame_ring.h"
#include "fuzz_memfd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus;
  // The layout first, on the input itself: most mutants fail it, and need no memfd.
  auto layout = validateFrameRing(reinterpret_cast<const std::byte*>(data), size);
  if (!layout) return 0;
  SharedMemory* shm = fuzz::memfdFrom(data, size);
  if (shm == nullptr) return 0;
  auto* h = reinterpret_cast<abi::FrameRingHeader*>(shm->data());
  // Pids in the input are arbitrary; clear them so attach is not refused for a live stranger.
  h->producer_pid = 0;
  h->consumer_pid = 0;
  auto consumer = FrameConsumer::attach(*SharedMemory::attachDup(shm->handle()));
  if (!consumer) return 0;
  for (int i = 0; i < 3; ++i) {
    FrameConsumer::Frame f;
    if (consumer->acquireLatest(0, &f) == FrameConsumer::Status::kFrame) {
      volatile std::byte sink{};
      for (std::byte b : f.payload) sink = b;  // every handed-out byte must be inside the mapping
      (void)sink;
      consumer->release(f);
    }
  }
  auto producer = FrameProducer::attach(*SharedMemory::attachDup(shm->handle()));
  if (!producer) return 0;
  for (int i = 0; i < 3; ++i) {
    auto slot = producer->beginFrame();
    if (!slot) continue;
    slot->payload[0] = std::byte{1};
    slot->payload[slot->payload.size() - 1] = std::byte{2};
    FrameMeta meta;
    meta.payload_size = 1;
    meta.geometry = *makeGeometry(abi::PixelFormat::kBgra, 1, 1);
    meta.payload_size = 4;
    if (slot->payload.size() >= 4)
      producer->publish(*slot, meta);
    else
      producer->cancel(*slot);
  }
  FrameConsumer::Frame f;
  if (consumer->acquireLatest(0, &f) == FrameConsumer::Status::kFrame) consumer->release(f);
  return 0;
}

// A valid ring with one published frame, so mutations reach the paths past attach.
std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus;
  FrameRingConfig config;
  config.slot_count = 3;
  config.mode = *makeGeometry(abi::PixelFormat::kBgra, 16, 8);
  auto ring = createFrameRing(config);
  {
    auto producer = FrameProducer::attach(*SharedMemory::attachDup(ring->handle()));
    auto slot = producer->beginFrame();
    producer->publish(*slot, FrameMeta{});
  }
  auto* p = reinterpret_cast<const uint8_t*>(ring->data());
  return {std::vector<uint8_t>(p, p + ring->size())};
}
