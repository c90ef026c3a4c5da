// The input pump: ring -> dispatcher (see input_pump.h).
#include "funkhaus/input/input_pump.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <variant>

#include "funkhaus/common/clock.h"

namespace funkhaus::input {

Result<void> InputPump::start() {
  bool consistent = true;
  const abi::InputHeld predecessor = consumer_.readApplied(&consistent);
  if (!consistent) spdlog::warn("the previous input worker died while writing what it applied");
  if (auto r = dispatcher_.releasePredecessor(predecessor); !r) return r;
  consumer_.writeApplied(dispatcher_.applied());
  dispatcher_.takeAppliedChanged();
  return {};
}

Result<void> InputPump::runBatch(int64_t timeout_ns, uint32_t max_events) {
  dispatcher_.poll();
  int64_t timeout = std::max<int64_t>(timeout_ns, 0);
  for (uint32_t n = 0; n < max_events; ++n) {
    InputNext next = consumer_.next(timeout);
    if (std::holds_alternative<InputTimeout>(next)) break;
    timeout = 0;  // something came: take what else is there, then flush
    if (auto* overrun = std::get_if<InputOverrun>(&next)) {
      if (overrun->held_consistent) {
        if (auto r = dispatcher_.resync(overrun->held, overrun->lost); !r) return r;
      } else {
        dispatcher_.releaseAll();
      }
      continue;
    }
    const auto& event = std::get<abi::InputEvent>(next);
    const uint64_t out_of_range = dispatcher_.counters().out_of_range;
    if (auto r = dispatcher_.dispatch(event); !r) return r;
    // One count of what was refused, in the ring (next() counts what it skipped itself).
    if (dispatcher_.counters().out_of_range != out_of_range) consumer_.countOutOfRange();
    stats_.onFrame(event.received_ns, monotonicNs());
  }
  finishBatch();
  return {};
}

void InputPump::stop() {
  dispatcher_.releaseAll();
  finishBatch();
}

void InputPump::finishBatch() {
  dispatcher_.flush();
  if (dispatcher_.takeAppliedChanged()) consumer_.writeApplied(dispatcher_.applied());
}

}  // namespace funkhaus::input
