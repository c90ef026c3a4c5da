// Latency figures of the pipeline benchmark: percentiles, and the mapping of RTP timestamps
// back to capture times through the RTCP sender reports. Bench main thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "funkhaus/bench/rtp_sink.h"

namespace funkhaus::bench {

struct Percentiles {
  size_t count = 0;
  double p50_ms = 0, p99_ms = 0, mean_ms = 0, max_ms = 0;
};

// Nearest-rank percentiles (the smallest sample with at least p% of the samples at or below
// it). All zero for no samples.
Percentiles percentilesOf(std::vector<uint64_t> samples_ns);

// funkhaus-net stamps RTP timestamps as rtpTimestamp(capture_ns, offset): 90 kHz CLOCK_MONOTONIC
// plus a per-viewer offset. A sender report holds one instant on the wall clock (NTP) and on the
// RTP clock; with the sink's CLOCK_REALTIME - CLOCK_MONOTONIC it gives that offset.
uint32_t offsetOfReport(const SinkReport& report);

struct OffsetEstimate {
  uint32_t offset = 0;
  size_t reports = 0;         // sender reports used
  size_t agreeing = 0;        // of those, how many imply exactly `offset`
  uint32_t spread_ticks = 0;  // largest distance of any report's offset from `offset`
};

// The offset most reports imply (one report can be one 90 kHz tick off when its instant lies
// within the clocks' reading skew of a tick boundary). nullopt without reports.
std::optional<OffsetEstimate> estimateOffset(std::span<const SinkReport> reports);

// The CLOCK_MONOTONIC time an RTP timestamp stands for: the middle of its 90 kHz tick (the tick
// holds every nanosecond that maps to it). `near_ns` is any time within about 6 hours of it
// (e.g. when it arrived): it picks the right turn of the 32-bit RTP clock.
uint64_t monotonicOfRtp(uint32_t rtp_timestamp, uint32_t offset, uint64_t near_ns);

// 90 kHz ticks of a CLOCK_MONOTONIC time, unwrapped (net's rtpTimestamp() is the low 32 bits).
uint64_t ticksOf(uint64_t monotonic_ns);
// The first nanosecond of a tick: ticksOf(tickStartNs(t)) == t.
uint64_t tickStartNs(uint64_t ticks);

// One frame's latency: its capture time and capture -> last RTP packet.
struct FrameLatency {
  uint32_t rtp_timestamp = 0;
  uint64_t capture_ns = 0;
  uint64_t latency_ns = 0;
};

struct FrameLatencies {
  std::vector<FrameLatency> frames;  // complete frames captured in the window, capture order
  size_t incomplete = 0;             // frames in the window with a lost packet (not counted)
  size_t before_capture = 0;         // last packet stamped before the capture (mapping broken)
};

// Latency of every frame the sink saw whose capture time is in [from_ns, to_ns).
FrameLatencies latenciesOf(std::span<const SinkFrame> frames, uint32_t offset, uint64_t from_ns,
                           uint64_t to_ns);

}  // namespace funkhaus::bench
