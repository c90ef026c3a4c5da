// Turns fuzz input bytes into a sealed memfd mapping, as a peer process would hand one over.
// Used by the ring attach fuzz targets (one thread).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "funkhaus/common/shared_memory.h"

namespace funkhaus::fuzz {

// A sealed memfd of exactly `size` bytes holding the input, or nullptr (0 or over 4 MiB, or the
// kernel refused). Creating, sizing, sealing, faulting in and unmapping a new object was a third
// of an execution's time (packet ring; more with the 86 KiB frame ring), so one object per size is
// kept and reused (a sealed object cannot be resized): the input overwrites every byte of it, so
// nothing of an earlier execution remains. The harness validates the input's layout first, so only
// sizes of valid rings get here (a few). The object stays valid until the next call.
inline SharedMemory* memfdFrom(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1u << 22)) return nullptr;
  static std::vector<SharedMemory> cache;
  constexpr size_t kMaxCached = 8;
  SharedMemory* shm = nullptr;
  for (auto& s : cache)
    if (s.size() == size) shm = &s;
  if (shm == nullptr) {
    auto created = SharedMemory::create("fuzz", size);
    if (!created) return nullptr;
    if (cache.size() == kMaxCached) cache.erase(cache.begin());  // the oldest size goes
    cache.push_back(std::move(*created));
    shm = &cache.back();
  }
  std::memcpy(shm->data(), data, size);
  return shm;
}

}  // namespace funkhaus::fuzz
