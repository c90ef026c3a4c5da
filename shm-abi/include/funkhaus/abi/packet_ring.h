// Layout of a packet ring: PacketRingHeader at offset 0 of a sealed memfd, then a byte area of
// `capacity` bytes holding variable-length records. Created by funkhausd, written by one
// producer (encode; audio for the audio ring) and read by one consumer (net). Single producer,
// single consumer. In an audio ring, frame_number counts packets and capture_time_ns is the
// capture time of the packet's first sample (the video's clock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "funkhaus/abi/abi.h"
#include "funkhaus/abi/codec.h"

namespace funkhaus::abi {

inline constexpr uint32_t kPacketRingMagic = 0x52504846;  // "FHPR" as little-endian bytes

// Records start at multiples of this inside the data area; capacity is a multiple of it, so
// the gap before the wrap point is always 0 or big enough for a padding record header.
inline constexpr uint32_t kRecordAlign = 32;

// Flags in PacketRecordHeader::flags.
inline constexpr uint32_t kRecordFlagKeyframe = 1u << 0;       // access unit starts with an IDR
inline constexpr uint32_t kRecordFlagDiscontinuity = 1u << 1;  // records were dropped before this
inline constexpr uint32_t kRecordFlagPadding = 1u << 2;  // filler up to the wrap point; skip it
// A re-encode of a picture already sent (a static screen): its capture time is when it was
// re-encoded, not a screen change, so it counts for frame rates and not for latencies.
inline constexpr uint32_t kRecordFlagRepeat = 1u << 3;
inline constexpr uint32_t kRecordFlagsKnown =
    kRecordFlagKeyframe | kRecordFlagDiscontinuity | kRecordFlagPadding | kRecordFlagRepeat;

// Precedes every record. A record occupies align_up(sizeof(header) + size, kRecordAlign) bytes
// and never wraps: a padding record fills the rest of the area first.
struct PacketRecordHeader {
  uint32_t size;             // payload bytes that follow this header
  uint32_t flags;            // kRecordFlag*
  uint64_t frame_number;     // frame number of the access unit
  uint64_t capture_time_ns;  // CLOCK_MONOTONIC capture time of its frame
  uint32_t codec;            // Codec (codec.h)
  uint32_t format;           // kOpus: opusFormat() (codec.h); 0 for video
};

static_assert(sizeof(PacketRecordHeader) == 32, "record header size is part of the ABI");
static_assert(sizeof(PacketRecordHeader) <= kRecordAlign,
              "a padding record must fit in the smallest possible gap");
static_assert(offsetof(PacketRecordHeader, frame_number) == 8, "8-byte field must be 8-aligned");
static_assert(offsetof(PacketRecordHeader, capture_time_ns) == 16, "layout drift");
static_assert(offsetof(PacketRecordHeader, codec) == 24, "layout drift");
static_assert(std::is_standard_layout_v<PacketRecordHeader>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<PacketRecordHeader>,
              "records are written and read byte-wise across processes");

struct PacketRingHeader {
  // --- cache line 0: written once by the owner before any peer attaches ---
  uint32_t magic;               // kPacketRingMagic
  uint32_t abi_version;         // kAbiVersion
  uint32_t header_size;         // sizeof(PacketRingHeader)
  uint32_t record_header_size;  // sizeof(PacketRecordHeader)
  uint64_t data_offset;         // start of the record area in the mapping
  uint64_t capacity;            // bytes in the record area, a multiple of record_align
  uint64_t total_size;          // size of the whole mapping
  uint32_t record_align;        // kRecordAlign
  uint32_t max_record_size;     // largest payload the producer may write (<= capacity / 2)
  uint64_t reserved0[2];

  // --- cache line 1: written by the producer ---
  uint64_t head;                   // (atomic) bytes ever committed; release-stored on commit
  uint32_t commit_futex;           // (atomic) bumped on every commit; the consumer sleeps on it
  uint32_t producer_pid;           // (atomic) 0 = none
  uint64_t records;                // (atomic) records committed (padding excluded)
  uint64_t dropped_records;        // (atomic) records dropped on overflow
  uint64_t dropped_bytes;          // (atomic) payload bytes of those records
  uint64_t producer_heartbeat_ns;  // (atomic)
  uint64_t reserved1[2];

  // --- cache line 2: written by the consumer ---
  uint64_t tail;                   // (atomic) bytes ever consumed; release-stored on pop
  uint32_t consumer_waiting;       // (atomic) the consumer may sleep on commit_futex
  uint32_t consumer_pid;           // (atomic) 0 = none
  uint64_t consumer_heartbeat_ns;  // (atomic)
  uint64_t reserved2[5];
};

static_assert(sizeof(PacketRingHeader) == 3 * kCacheLine, "header size is part of the ABI");
static_assert(alignof(PacketRingHeader) == 8, "8-byte atomics inside need 8-byte alignment");
static_assert(offsetof(PacketRingHeader, magic) == 0, "magic first, so it is checked first");
static_assert(offsetof(PacketRingHeader, abi_version) == 4, "version right after the magic");
static_assert(offsetof(PacketRingHeader, data_offset) == 16, "layout drift");
static_assert(offsetof(PacketRingHeader, record_align) == 40, "layout drift");
static_assert(offsetof(PacketRingHeader, head) == kCacheLine,
              "head and tail on separate cache lines (the producer and consumer write them)");
static_assert(offsetof(PacketRingHeader, commit_futex) == 72, "futex words must be 4-aligned");
static_assert(offsetof(PacketRingHeader, tail) == 2 * kCacheLine,
              "head and tail on separate cache lines (the producer and consumer write them)");
static_assert(offsetof(PacketRingHeader, consumer_waiting) == 136, "futex words 4-aligned");
static_assert(std::is_standard_layout_v<PacketRingHeader>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<PacketRingHeader>,
              "no constructor runs in shared memory: the bytes are the object");

}  // namespace funkhaus::abi
