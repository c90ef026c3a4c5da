// Process-shared futex wait/wake on a 32-bit word in shared memory, and peer liveness checks.
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

// True if no process with this pid is running any more: it never existed, it has exited, or
// it is a zombie waiting to be reaped. Uses a pidfd, so a zombie counts as gone. pid 0 and
// values above the kernel's pid range count as gone (they can only come from garbage).
bool processGone(uint32_t pid);

}  // namespace funkhaus
