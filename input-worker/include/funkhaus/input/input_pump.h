// InputPump: moves events from the input ring's consumer end through the dispatcher: batches,
// overruns, `applied` written back, rumble. The worker stage's loop, and what the tests drive.
// Used on funkhaus-input's main thread.
#pragma once

#include <cstdint>

#include "funkhaus/common/input_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/input/dispatcher.h"

namespace funkhaus::input {

class InputPump {
 public:
  // Both borrowed; they outlive the pump.
  InputPump(InputConsumer& consumer, Dispatcher& dispatcher)
      : consumer_(consumer), dispatcher_(dispatcher) {}

  // A (re)started worker: releases what the predecessor left in `applied`, then clears it.
  Result<void> start();

  // Waits up to `timeout_ns` for input, then handles what is there (at most `max_events`),
  // flushes the sinks and writes `applied` if it changed. An error only when a sink is gone.
  Result<void> runBatch(int64_t timeout_ns, uint32_t max_events = 512);

  // Stop: everything up, `applied` cleared.
  void stop();

  // Events per second and ring -> session latency (received_ns -> applied).
  StageStats& stats() { return stats_; }

 private:
  void finishBatch();

  InputConsumer& consumer_;
  Dispatcher& dispatcher_;
  StageStats stats_;
};

}  // namespace funkhaus::input
