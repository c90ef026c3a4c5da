// Wait/wake on a 32-bit word in shared memory, across processes (futex on Linux). Used by the
// keyed mutex and the ring consumers, on any thread.
#pragma once

#include <cstdint>

namespace funkhaus::platform {

enum class WaitResult {
  kWoken,         // woken by wakeWord (or spuriously, or by a signal): re-check the condition
  kValueChanged,  // *word != expected when the wait began
  kTimedOut,
};

// Sleeps while *word == expected, at most timeout_ns (negative: no limit). The word must be
// 4-byte aligned; it may live in memory shared with other processes.
WaitResult waitOnWord(uint32_t* word, uint32_t expected, int64_t timeout_ns);

// Wakes up to `count` waiters on `word`, in any process that maps it.
void wakeWord(uint32_t* word, int count);

// wakeWord's count for "every waiter".
inline constexpr int kWakeAll = 0x7fffffff;

}  // namespace funkhaus::platform
