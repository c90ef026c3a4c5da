// KeyedMutex over a shared word (platform wait/wake: a futex on Linux).
#include "funkhaus/common/keyed_mutex.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "funkhaus/abi/abi.h"
#include "funkhaus/abi/keyed_mutex_word.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/peer.h"
#include "funkhaus/platform/wait_word.h"

namespace funkhaus {

using abi::kMutexHeld;
using abi::kMutexValueMask;
using abi::kMutexWaiters;

const char* toString(AcquireResult result) {
  switch (result) {
    case AcquireResult::kAcquired:
      return "acquired";
    case AcquireResult::kTimeout:
      return "timeout";
    case AcquireResult::kAbandoned:
      return "abandoned";
  }
  return "?";
}

AcquireResult KeyedMutex::tryAcquire(uint32_t key) {
  auto ref = abi::atomicRef(*word_);
  uint32_t v = ref.load(std::memory_order_relaxed);
  while (!(v & kMutexHeld) && (v & kMutexValueMask) == key) {
    uint32_t held = kMutexHeld | self_pid_ | (v & kMutexWaiters);
    if (ref.compare_exchange_weak(v, held, std::memory_order_acquire, std::memory_order_relaxed))
      return AcquireResult::kAcquired;
  }
  return AcquireResult::kTimeout;
}

bool KeyedMutex::recoverIfAbandoned() {
  auto ref = abi::atomicRef(*word_);
  uint32_t v = ref.load(std::memory_order_acquire);
  if (!(v & kMutexHeld)) return false;
  uint32_t holder = v & kMutexValueMask;
  if (holder == self_pid_ || !processGone(holder)) return false;
  uint32_t held = kMutexHeld | self_pid_ | (v & kMutexWaiters);
  return ref.compare_exchange_strong(v, held, std::memory_order_acquire, std::memory_order_relaxed);
}

AcquireResult KeyedMutex::acquire(uint32_t key, int64_t timeout_ns) {
  if (key > abi::kMutexMaxKey) std::abort();  // a programming error, not peer input
  auto ref = abi::atomicRef(*word_);
  uint64_t now = monotonicNs();
  const uint64_t deadline = now + static_cast<uint64_t>(std::max<int64_t>(timeout_ns, 0));
  uint64_t next_liveness_check = now;  // check a held word at once
  for (;;) {
    if (tryAcquire(key) == AcquireResult::kAcquired) return AcquireResult::kAcquired;
    uint32_t v = ref.load(std::memory_order_acquire);
    if (v & kMutexHeld) {
      if (now >= next_liveness_check) {
        if (recoverIfAbandoned()) return AcquireResult::kAbandoned;
        next_liveness_check = now + kLivenessSliceNs;
      }
    } else if ((v & kMutexValueMask) == key) {
      continue;  // released with our key between the try and the load
    }
    if (now >= deadline) return AcquireResult::kTimeout;
    if (!(v & kMutexWaiters)) {
      if (!ref.compare_exchange_weak(v, v | kMutexWaiters, std::memory_order_relaxed)) continue;
      v |= kMutexWaiters;
    }
    int64_t wait = static_cast<int64_t>(deadline - now);
    if (v & kMutexHeld)
      wait = std::min<int64_t>(wait, static_cast<int64_t>(next_liveness_check - now));
    platform::waitOnWord(word_, v, std::max<int64_t>(wait, 0));
    now = monotonicNs();
  }
}

Result<void> KeyedMutex::release(uint32_t key) {
  if (key > abi::kMutexMaxKey) std::abort();
  auto ref = abi::atomicRef(*word_);
  uint32_t v = ref.load(std::memory_order_relaxed);
  do {
    if (!(v & kMutexHeld) || (v & kMutexValueMask) != self_pid_)
      return makeError("keyed mutex release by pid {}: word is 0x{:08x}, not held by it", self_pid_,
                       v);
  } while (
      !ref.compare_exchange_weak(v, key, std::memory_order_release, std::memory_order_relaxed));
  if (v & kMutexWaiters) platform::wakeWord(word_, platform::kWakeAll);
  return {};
}

bool KeyedMutex::releaseDeadHolder(uint32_t& word, uint32_t dead_pid, uint32_t key) {
  if (key > abi::kMutexMaxKey || dead_pid == 0 || dead_pid > kMutexValueMask) std::abort();
  auto ref = abi::atomicRef(word);
  uint32_t v = ref.load(std::memory_order_acquire);
  do {
    if (!(v & kMutexHeld) || (v & kMutexValueMask) != dead_pid) return false;
  } while (
      !ref.compare_exchange_weak(v, key, std::memory_order_acq_rel, std::memory_order_acquire));
  if (v & kMutexWaiters) platform::wakeWord(&word, platform::kWakeAll);
  return true;
}

std::optional<uint32_t> KeyedMutex::holder() const {
  uint32_t v = abi::atomicLoad(*word_);
  if (!(v & kMutexHeld)) return std::nullopt;
  return v & kMutexValueMask;
}

std::optional<uint32_t> KeyedMutex::releasedKey() const {
  uint32_t v = abi::atomicLoad(*word_);
  if (v & kMutexHeld) return std::nullopt;
  return v & kMutexValueMask;
}

}  // namespace funkhaus
