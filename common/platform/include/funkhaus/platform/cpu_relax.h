// cpuRelax(): the spin-wait hint of this CPU (x86 `pause`, Arm `yield`; a compiler barrier
// elsewhere). Used inside busy-poll loops (ring consumers in busy-poll mode, benchmarks).
#pragma once

#include <atomic>

#if defined(_MSC_VER)
#include <intrin.h>
#endif

namespace funkhaus::platform {

// Tells the CPU this thread is spinning: the sibling hyper-thread gets the core, and leaving the
// loop does not pay for a mis-speculated memory order. No system call, no sleep.
inline void cpuRelax() {
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_pause();
#elif defined(_MSC_VER) && (defined(_M_ARM64) || defined(_M_ARM))
  __yield();
#elif defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);  // no hint here: at least re-read memory
#endif
}

}  // namespace funkhaus::platform
