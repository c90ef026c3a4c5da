// Monotonic time in nanoseconds, comparable across processes on one machine.
// Used by ring producers and consumers for timestamps, heartbeats and deadlines.
#pragma once

#include <cstdint>
#include <ctime>

namespace funkhaus {

inline uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace funkhaus
