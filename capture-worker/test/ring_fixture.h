// A frame ring made in the test process, with its producer and consumer attached.
// Used by the capture source unit tests (single test process).
#pragma once

#include <cstdlib>

#include "funkhaus/common/frame_ring.h"

namespace funkhaus::capture::test {

struct Ring {
  FrameProducer producer;
  FrameConsumer consumer;
};

inline Ring makeRing(uint32_t width, uint32_t height, uint32_t slots = 4) {
  FrameRingConfig config;
  config.slot_count = slots;
  config.mode = *makeGeometry(abi::PixelFormat::kI420, width, height);
  auto shm = createFrameRing(config);
  if (!shm) std::abort();
  auto consumer_shm = SharedMemory::attachDup(shm->handle());
  auto producer = FrameProducer::attach(std::move(*shm));
  auto consumer = FrameConsumer::attach(std::move(*consumer_shm));
  if (!producer || !consumer) std::abort();
  return Ring{std::move(*producer), std::move(*consumer)};
}

inline const uint8_t* plane(const FrameConsumer::Frame& f, int p) {
  return reinterpret_cast<const uint8_t*>(f.payload.data()) + f.geometry.plane_offset[p];
}

}  // namespace funkhaus::capture::test
