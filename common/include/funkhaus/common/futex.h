// Process-shared futex wait/wake on a 32-bit word in shared memory.
// Used by the keyed mutex and the ring consumers on any thread.
#pragma once

#include <cstdint>

namespace funkhaus {

enum class FutexWaitResult {
  kWoken,         // woken by a futexWake (or spuriously): re-check the condition
  kValueChanged,  // *word != expected when the wait began
  kTimedOut,
};

// Sleeps while *word == expected, at most timeout_ns (negative: no limit).
FutexWaitResult futexWait(uint32_t* word, uint32_t expected, int64_t timeout_ns);

// Wakes up to `count` waiters on `word`.
void futexWake(uint32_t* word, int count);

}  // namespace funkhaus
