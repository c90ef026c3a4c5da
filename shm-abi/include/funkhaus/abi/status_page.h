// Layout of a worker status page: one small sealed memfd per worker, created by funkhausd.
// Written by the worker (heartbeat, state, counters), read by funkhausd, which trusts none of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "funkhaus/abi/abi.h"

namespace funkhaus::abi {

inline constexpr uint32_t kStatusPageMagic = 0x53574846;  // "FHWS" as little-endian bytes

enum class WorkerKind : uint32_t {
  kUnknown = 0,
  kCapture = 1,
  kEncode = 2,
  kNet = 3,
  kVdisplay = 4,
  kWeb = 5,  // host-level: the GameStream HTTP(S) API
  kInput = 6,
  kAudio = 7,
  kConsole = 8,  // host-level: the web console (HTTPS) and /metrics
};
inline constexpr uint32_t kMaxWorkerKind = static_cast<uint32_t>(WorkerKind::kConsole);

enum class WorkerState : uint32_t {
  kStarting = 0,  // spawned, not yet attached to its rings
  kReady = 1,     // attached; waiting for input
  kRunning = 2,   // moving frames
  kStopping = 3,  // asked to stop, draining
  kFailed = 4,    // gave up; its exit code says why
};

struct WorkerStatusPage {
  // --- cache line 0: written once by funkhausd before the worker starts ---
  uint32_t magic;        // kStatusPageMagic
  uint32_t abi_version;  // kAbiVersion
  uint32_t header_size;  // sizeof(WorkerStatusPage)
  uint32_t kind;         // WorkerKind
  uint64_t reserved0[6];

  // --- cache lines 1-3: written by the worker ---
  uint64_t heartbeat;       // (atomic) bumped at least every 100 ms by the worker's main loop
  uint32_t state;           // (atomic) WorkerState
  uint32_t pid;             // (atomic) the worker's own pid, as it sees it
  uint64_t frames_in;       // (atomic) frames or records taken from the input ring
  uint64_t frames_out;      // (atomic) frames, records or packets produced
  uint64_t drops;           // (atomic) frames dropped by this worker
  uint64_t errors;          // (atomic) recoverable errors
  uint64_t bytes_out;       // (atomic)
  uint64_t latency_p50_ns;  // (atomic) capture -> this stage's output, over the last seconds
  uint64_t latency_p99_ns;  // (atomic)
  uint64_t fps_milli;       // (atomic) frames out per second x 1000, over the last second
  uint64_t viewers;         // (atomic) net: viewers playing
  uint64_t keyframes;       // (atomic) encode: IDRs produced; net: keyframe requests received
  uint64_t devices;         // (atomic) input: virtual devices it holds (was reserved: 0 before)
  // This stage's own time per frame (its input taken -> its output handed on), over the same
  // window as latency_*; 0 = not measured (was reserved: 0 before, so older pages read as such).
  uint64_t stage_p50_ns;  // (atomic)
  uint64_t stage_p99_ns;  // (atomic)
  // encode: access units that re-encode the picture it holds (kRecordFlagRepeat: a static
  // screen, a keyframe request with no new frame, capture late by more than a frame); 0 for
  // the others (was reserved: 0 before).
  uint64_t repeats;  // (atomic)
  uint64_t reserved1[8];
};

static_assert(sizeof(WorkerStatusPage) == 4 * kCacheLine, "status page size is part of the ABI");
static_assert(offsetof(WorkerStatusPage, magic) == 0, "magic first, so it is checked first");
static_assert(offsetof(WorkerStatusPage, heartbeat) == kCacheLine,
              "worker-written fields start their own cache line");
static_assert(offsetof(WorkerStatusPage, state) == 72, "futex-able words must be 4-aligned");
static_assert(offsetof(WorkerStatusPage, latency_p99_ns) == 128, "layout drift");
static_assert(offsetof(WorkerStatusPage, keyframes) == 152, "layout drift");
static_assert(offsetof(WorkerStatusPage, stage_p99_ns) == 176, "layout drift");
static_assert(offsetof(WorkerStatusPage, repeats) == 184, "layout drift");
static_assert(std::is_standard_layout_v<WorkerStatusPage>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<WorkerStatusPage>,
              "no constructor runs in shared memory: the bytes are the object");

}  // namespace funkhaus::abi
