// StageStats: frames per second and capture -> output latency percentiles of one pipeline
// stage, published into the worker's status page. Used on each worker's main thread.
#pragma once

#include <cstdint>
#include <vector>

#include "funkhaus/abi/status_page.h"

namespace funkhaus {

class StageStats {
 public:
  // Latency percentiles (nearest rank, percentile.h) cover the last `window_ns`; fps covers the
  // last second.
  explicit StageStats(uint64_t window_ns = 5'000'000'000);

  // One frame left this stage at `done_ns`; it was captured at `capture_ns` and this stage took
  // it (its input) at `stage_start_ns` (all CLOCK_MONOTONIC). A capture time of 0 or in the
  // future counts for fps only; a stage start of 0 or after `done_ns` adds no stage time.
  void onFrame(uint64_t capture_ns, uint64_t done_ns, uint64_t stage_start_ns = 0);

  struct Snapshot {
    uint64_t fps_milli = 0;
    uint64_t p50_ns = 0;  // capture -> this stage's output
    uint64_t p99_ns = 0;
    uint64_t samples = 0;
    uint64_t stage_p50_ns = 0;  // this stage's own time
    uint64_t stage_p99_ns = 0;
    uint64_t stage_samples = 0;
  };
  Snapshot snapshot(uint64_t now_ns);

  // Writes fps_milli, latency_p50/p99_ns and stage_p50/p99_ns of `page` (at most every 250 ms of
  // `now_ns`, so it can be called per frame).
  void publish(abi::WorkerStatusPage& page, uint64_t now_ns);

 private:
  struct Sample {
    uint64_t done_ns;
    uint64_t latency_ns;  // UINT64_MAX: fps only
    uint64_t stage_ns;    // UINT64_MAX: not measured
  };
  void expire(uint64_t now_ns);

  uint64_t window_ns_;
  std::vector<Sample> samples_;  // in done_ns order
  size_t head_ = 0;              // first live sample
  uint64_t next_publish_ns_ = 0;
  std::vector<uint64_t> scratch_;
};

}  // namespace funkhaus
