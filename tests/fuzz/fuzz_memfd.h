// Turns fuzz input bytes into a sealed memfd mapping, as a peer process would hand one over.
// Used by the ring attach fuzz targets.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <optional>

#include "funkhaus/common/shared_memory.h"

namespace funkhaus::fuzz {

inline std::optional<SharedMemory> memfdFrom(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1u << 22)) return std::nullopt;
  auto shm = SharedMemory::create("fuzz", size);
  if (!shm) return std::nullopt;
  std::memcpy(shm->data(), data, size);
  return std::move(*shm);
}

}  // namespace funkhaus::fuzz
