// Layout of a frame ring: FrameRingHeader at offset 0 of a sealed memfd, then slot_count slots,
// each a FrameSlotHeader followed by the pixel payload. Created by funkhausd (owner), written
// by one producer (capture or driver) and read by one consumer (capture or encode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "funkhaus/abi/abi.h"

namespace funkhaus::abi {

inline constexpr uint32_t kFrameRingMagic = 0x52464846;  // "FHFR" as little-endian bytes

// Slot index is 8 bits in a token.
inline constexpr uint32_t kMaxFrameSlots = 255;
// Payload starts this aligned inside a slot (AVX-512 loads and libavcodec's alignment).
inline constexpr uint32_t kPayloadAlign = 64;
inline constexpr uint32_t kMaxPlanes = 4;

enum class PixelFormat : uint32_t {
  kUnknown = 0,
  kBgra = 1,  // one plane, 4 bytes per pixel
  kNv12 = 2,  // Y plane + interleaved UV plane at half height
  kI420 = 3,  // Y, U, V planes, chroma at half width and height
};

// How the samples of a frame map to colours (FrameSlotHeader::colour). The one policy of funkhaus
// is BT.709 limited range for YUV (common/media: capture and encoder convert identically and the
// encoder tags its VUI with it); RGB frames are full-range sRGB.
enum class ColourSpace : uint32_t {
  kUnspecified = 0,   // a producer that does not say: consumers assume the policy of the format
  kSrgb = 1,          // RGB formats (BGRA): full range, sRGB primaries and transfer
  kBt709Limited = 2,  // YUV formats: BT.709 matrix, primaries and transfer, 16..235/240
};
inline constexpr uint32_t kMaxColourSpace = static_cast<uint32_t>(ColourSpace::kBt709Limited);

// Flags in FrameSlotHeader::flags.
// A repeat (repeat_last) shows the picture first published as content_token again; no pixel is
// copied for it. Either the slot that holds that picture is re-published in place under a new
// token (payload = the picture, untouched since), or, while the consumer holds that slot, a
// fresh slot is published with kSlotFlagNoPayload as well.
inline constexpr uint32_t kSlotFlagRepeat = 1u << 0;
inline constexpr uint32_t kSlotFlagAbandoned = 1u << 1;  // last holder died; contents discarded
// No payload was written (payload_size 0): the picture is content_token's, which the consumer
// holds or has just had. A consumer whose last picture is not content_token's discards it.
inline constexpr uint32_t kSlotFlagNoPayload = 1u << 2;

// Geometry of one frame. Plane offsets are relative to the start of the slot payload.
struct FrameGeometry {
  uint32_t format;  // PixelFormat
  uint32_t width;
  uint32_t height;
  uint32_t plane_count;
  uint32_t stride[kMaxPlanes];
  uint32_t plane_offset[kMaxPlanes];
};

static_assert(sizeof(FrameGeometry) == 48, "FrameGeometry is embedded in two shared headers");
static_assert(std::is_trivially_copyable_v<FrameGeometry> &&
                  std::is_standard_layout_v<FrameGeometry>,
              "FrameGeometry is copied byte-wise between processes");

// Fields marked (atomic) are only accessed through abi::atomicRef(); the others are written by
// the slot's holder (or by the owner before any peer attaches) and read under the keyed mutex.
struct FrameSlotHeader {
  uint32_t mutex;            // (atomic) keyed-mutex word, see keyed_mutex_word.h
  uint32_t flags;            // kSlotFlag*, written by the holder
  uint64_t token;            // (atomic) token of the frame in this slot, 0 = none
  uint64_t capture_time_ns;  // CLOCK_MONOTONIC when the frame was captured
  uint64_t payload_size;     // bytes of payload that belong to the frame
  FrameGeometry geometry;    // this frame's geometry (may differ after a mode change)
  uint32_t colour;           // ColourSpace of the samples
  uint32_t reserved0;        // zero
  uint64_t content_token;    // token the picture was first published as (== token unless a repeat)
  uint64_t reserved[4];      // zero; room for damage rectangles, cursor
};

static_assert(sizeof(FrameSlotHeader) == 128, "slot header size is part of the ABI");
static_assert(alignof(FrameSlotHeader) == 8, "8-byte atomics inside need 8-byte alignment");
static_assert(offsetof(FrameSlotHeader, mutex) == 0, "futex word must be 4-aligned");
static_assert(offsetof(FrameSlotHeader, token) == 8, "an 8-byte atomic must be 8-aligned");
static_assert(offsetof(FrameSlotHeader, capture_time_ns) == 16, "layout drift");
static_assert(offsetof(FrameSlotHeader, payload_size) == 24, "layout drift");
static_assert(offsetof(FrameSlotHeader, geometry) == 32, "layout drift");
static_assert(offsetof(FrameSlotHeader, colour) == 80, "layout drift");
static_assert(offsetof(FrameSlotHeader, content_token) == 88, "an 8-byte field must be 8-aligned");
static_assert(offsetof(FrameSlotHeader, reserved) == 96, "layout drift");
static_assert(std::is_standard_layout_v<FrameSlotHeader>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<FrameSlotHeader>,
              "no constructor runs in shared memory: the bytes are the object");

struct FrameRingHeader {
  // --- cache line 0: written once by the owner before any peer attaches ---
  uint32_t magic;             // kFrameRingMagic
  uint32_t abi_version;       // kAbiVersion
  uint32_t header_size;       // sizeof(FrameRingHeader)
  uint32_t slot_header_size;  // sizeof(FrameSlotHeader)
  uint32_t slot_count;        // 1..kMaxFrameSlots
  uint32_t payload_offset;    // payload start inside a slot: >= slot_header_size, aligned
  uint64_t slot_stride;       // bytes from one slot to the next
  uint64_t slots_offset;      // offset of slot 0 from the start of the mapping
  uint64_t payload_capacity;  // payload bytes available in each slot
  uint64_t total_size;        // size of the whole mapping
  uint64_t reserved0;

  // --- cache line 1: written by the producer ---
  uint64_t latest;         // (atomic) newest published token, 0 = none
  uint32_t generation;     // (atomic) current generation, 0 until a producer attached
  uint32_t publish_futex;  // (atomic) bumped on every publish; the consumer sleeps on it
  uint64_t published;      // (atomic) frames published, repeats included
  uint64_t dropped;        // (atomic) frames the producer dropped: no free slot
  uint64_t repeated;       // (atomic) repeat_last publications
  uint64_t overwritten;    // (atomic) published frames recycled before anyone took them
  uint32_t producer_pid;   // (atomic) 0 = no producer attached
  uint32_t reserved1;
  uint64_t producer_heartbeat_ns;  // (atomic) CLOCK_MONOTONIC of the producer's last call

  // --- cache line 2: written by the consumer ---
  uint64_t consumed;               // (atomic) frames handed to the consumer
  uint64_t stale_rejected;         // (atomic) slots refused: old generation or bad slot header
  uint64_t abandoned;              // (atomic) slots recovered from a dead holder (either side)
  uint32_t consumer_pid;           // (atomic) 0 = no consumer attached
  uint32_t consumer_waiting;       // (atomic) the consumer may sleep on publish_futex
  uint64_t consumer_heartbeat_ns;  // (atomic)
  uint64_t reserved2[3];

  // --- cache line 3: written once by the owner ---
  FrameGeometry mode;  // the mode the ring was created for; frames carry their own geometry
  uint64_t reserved3[2];
};

static_assert(sizeof(FrameRingHeader) == 4 * kCacheLine, "header size is part of the ABI");
static_assert(alignof(FrameRingHeader) == 8, "8-byte atomics inside need 8-byte alignment");
static_assert(offsetof(FrameRingHeader, magic) == 0, "magic first, so it is checked first");
static_assert(offsetof(FrameRingHeader, abi_version) == 4, "version right after the magic");
static_assert(offsetof(FrameRingHeader, header_size) == 8, "layout drift");
static_assert(offsetof(FrameRingHeader, slot_stride) == 24, "layout drift");
static_assert(offsetof(FrameRingHeader, total_size) == 48, "layout drift");
static_assert(offsetof(FrameRingHeader, latest) == kCacheLine,
              "producer fields start their own cache line (no false sharing)");
static_assert(offsetof(FrameRingHeader, publish_futex) == 76, "futex words must be 4-aligned");
static_assert(offsetof(FrameRingHeader, producer_heartbeat_ns) == 120, "layout drift");
static_assert(offsetof(FrameRingHeader, consumed) == 2 * kCacheLine,
              "consumer fields start their own cache line (no false sharing)");
static_assert(offsetof(FrameRingHeader, consumer_waiting) == 156, "futex words must be 4-aligned");
static_assert(offsetof(FrameRingHeader, mode) == 3 * kCacheLine, "layout drift");
static_assert(std::is_standard_layout_v<FrameRingHeader>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<FrameRingHeader>,
              "no constructor runs in shared memory: the bytes are the object");

}  // namespace funkhaus::abi
