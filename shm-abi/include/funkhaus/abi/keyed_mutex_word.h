// Encoding of the 32-bit keyed-mutex word that sits in every frame-ring slot.
// Used by whichever process holds or waits for a slot (capture, encode, driver, funkhausd).
#pragma once

#include <cstdint>

namespace funkhaus::abi {

// Word layout:
//   bit 31      HELD: a process holds the slot; bits 29..0 are its pid.
//   bit 30      WAITERS: someone may sleep on the futex; the releaser must wake it.
//   bits 29..0  when HELD: the holder's pid (Linux pid_max <= 2^22 fits);
//               when free: the key the slot was last released with.
// A fresh slot is 0: free, released with key 0 ("empty").
inline constexpr uint32_t kMutexHeld = uint32_t{1} << 31;
inline constexpr uint32_t kMutexWaiters = uint32_t{1} << 30;
inline constexpr uint32_t kMutexValueMask = (uint32_t{1} << 30) - 1;

// Keys a frame ring uses. Any key up to kMutexMaxKey works with the mutex itself.
inline constexpr uint32_t kKeyEmpty = 0;  // released by the consumer (or a recovery)
inline constexpr uint32_t kKeyFull = 1;   // released by the producer after writing a frame
inline constexpr uint32_t kMutexMaxKey = kMutexValueMask;

}  // namespace funkhaus::abi
