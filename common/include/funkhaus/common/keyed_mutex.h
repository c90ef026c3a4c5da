// KeyedMutex: a view over one 32-bit keyed-mutex word in shared memory (see
// abi/keyed_mutex_word.h). Used by frame-ring producers and consumers in any process.
#pragma once

#include <cstdint>
#include <optional>

#include "funkhaus/common/result.h"

namespace funkhaus {

enum class AcquireResult {
  kAcquired,   // the slot was released with the requested key; the caller holds it now
  kTimeout,    // not acquired within the timeout; the caller holds nothing
  kAbandoned,  // the previous holder died holding it; the caller holds it, contents undefined
};

const char* toString(AcquireResult result);

class KeyedMutex {
 public:
  // How often a waiter re-checks whether the holder is still alive.
  static constexpr int64_t kLivenessSliceNs = 20'000'000;

  // `self_pid` is the caller's pid, recorded as the holder.
  KeyedMutex(uint32_t& word, uint32_t self_pid) : word_(&word), self_pid_(self_pid) {}

  // Succeeds only when the word was last released with `key`. Waits up to timeout_ns
  // (0: one try). While the word is held, checks every kLivenessSliceNs (and once at once)
  // whether the holder is alive; if not, takes the slot over and returns kAbandoned.
  AcquireResult acquire(uint32_t key, int64_t timeout_ns);

  // One attempt without the liveness check: the producer's 0 ms fast path.
  AcquireResult tryAcquire(uint32_t key);

  // If the word is held by a process that is gone, takes it over (the caller then holds it).
  bool recoverIfAbandoned();

  // Releases with `key`, waking every waiter. Fails (and changes nothing) if the caller is not
  // the holder: a peer can scribble on shared memory, so this is an error, not a crash.
  Result<void> release(uint32_t key);

  // The owner's side (funkhausd, after it reaped `dead_pid`, so that process is gone for certain
  // and no pid of it is guessed at): if the word is held by `dead_pid`, releases it with `key`
  // and wakes every waiter. True if it did.
  static bool releaseDeadHolder(uint32_t& word, uint32_t dead_pid, uint32_t key);

  // The holder's pid, or nullopt when free.
  std::optional<uint32_t> holder() const;
  // The key of the last release, or nullopt while held.
  std::optional<uint32_t> releasedKey() const;

 private:
  uint32_t* word_;
  uint32_t self_pid_;
};

}  // namespace funkhaus
