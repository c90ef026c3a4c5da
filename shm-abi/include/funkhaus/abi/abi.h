// Common constants and the atomic-access helper of the funkhaus shared-memory ABI.
// Included by every process: funkhausd, the workers and funkhausctl.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace funkhaus::abi {

// One version for the whole ABI. Bump it whenever any struct in shm-abi/ changes size, field
// order, field meaning or an enum value; tests/unit/golden_layout_test.cpp fails until you do.
// v2: ring-fds carry tags and a last-batch flag; socket deposit/release messages; net roles;
//     status page fps, viewers and keyframe counters.
// v3: generic fd roles (ring, endpoint, connection, device) with tags; RingId, DeviceId; codec
//     ids in codec.h; frame slots carry their ColourSpace; connection deposit/release messages;
//     the net state page is a generic header plus per-protocol blobs (net_state.h).
// v4: request/reply messages with JSON text (TextBody); WorkerKind::kWeb; the GameStream
//     protocol and its HTTP(S) endpoint tags.
// v5: frame slots carry content_token; repeats are re-published in place or carry
//     kSlotFlagNoPayload (no pixel copied for a repeat).
inline constexpr uint32_t kAbiVersion = 5;

// Separate cache lines for fields written by different processes (no false sharing).
inline constexpr uint32_t kCacheLine = 64;

// Shared structs hold plain fixed-width integers so they stay trivially copyable and standard
// layout; fields documented as "(atomic)" are accessed only through this std::atomic_ref.
// A futex is a 32-bit word and shared counters are 64-bit; both must be lock-free, or a peer
// would see torn values or a libatomic lock that lives in another process's private memory.
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free, "futex words must be lock-free");
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free, "shared counters must be lock-free");
static_assert(std::atomic_ref<uint32_t>::required_alignment == 4, "4-byte fields suffice");
static_assert(std::atomic_ref<uint64_t>::required_alignment == 8, "8-byte fields suffice");

template <class T>
requires std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>
inline std::atomic_ref<T> atomicRef(T& field) { return std::atomic_ref<T>(field); }

// Read-only views (funkhausctl, the owner) still need a mutable object for atomic_ref in C++20;
// the load itself never writes.
template <class T>
requires std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>
inline T atomicLoad(const T& field, std::memory_order order = std::memory_order_acquire) {
  return std::atomic_ref<T>(const_cast<T&>(field)).load(order);
}

// A status counter another process reads: relaxed, it wants a recent value, not an ordering.
template <class T>
requires std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>
inline void storeRelaxed(T& field, std::type_identity_t<T> value) {
  std::atomic_ref<T>(field).store(value, std::memory_order_relaxed);
}

}  // namespace funkhaus::abi
