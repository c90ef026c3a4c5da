// Dispatcher: checks each input-ring event again, hands it to the sink that takes its kind, and
// keeps `applied` (what is pressed into the session) for the ring, so that a lost key-up, an
// overrun or a crashed worker never leaves a key stuck. Used on funkhaus-input's main thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "funkhaus/abi/input_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/input/input_sink.h"

namespace funkhaus::input {

struct DispatchCounters {
  uint64_t events_in = 0;     // events read from the ring (valid or not)
  uint64_t applied = 0;       // events a sink took without error
  uint64_t out_of_range = 0;  // refused by the range checks (input_check.h)
  uint64_t unrouted = 0;      // valid, but no sink takes the kind (e.g. pads without uinput)
  uint64_t sink_errors = 0;   // a sink refused it (e.g. a key without keycode)
  uint64_t overruns = 0;      // resynchronisations from the producer's `held`
  uint64_t lost = 0;          // events the producer overwrote before we read them
};

class Dispatcher {
 public:
  // `sinks` in order of preference: an event goes to the first sink that takes its kind.
  explicit Dispatcher(std::vector<std::unique_ptr<InputSink>> sinks);

  // One event from the ring. An error only when a sink is gone for good (kPeerLost).
  Result<void> dispatch(const abi::InputEvent& event);

  // The producer overwrote `lost` events: release what is applied but not held (keys, buttons,
  // contacts, pads), bring the pads that are held to their newest state. Keys and buttons held
  // but not applied stay up (their down was lost; pressing them late would type).
  Result<void> resync(const abi::InputHeld& held, uint64_t lost);

  // A restarted worker: lifts what its predecessor left applied, where it still exists. Keys and
  // buttons go up on the sink that takes them (an X display outlives the worker); a
  // predecessor's uinput devices vanished with it, so pads, contacts and pen are not touched.
  Result<void> releasePredecessor(const abi::InputHeld& predecessor);

  // kReleaseAll (also on stop): every sink lifts everything it pressed.
  void releaseAll();

  void flush();  // after a batch
  void poll();   // every turn

  // What is applied now, and whether it changed since the last call of takeAppliedChanged().
  const abi::InputHeld& applied() const { return applied_; }
  bool takeAppliedChanged();

  const DispatchCounters& counters() const { return counters_; }
  uint32_t devices() const;
  // The sink each kind goes to, or null.
  InputSink* sinkFor(abi::InputKind kind) const;

 private:
  Result<void> apply(const abi::InputEvent& event);  // route, count; no range check
  void track(const abi::InputEvent& event);          // update applied_
  void logRefused(const char* what, const abi::InputEvent& event);

  std::vector<std::unique_ptr<InputSink>> sinks_;
  std::array<InputSink*, abi::kMaxInputKind + 1> routes_{};
  abi::InputHeld applied_{};
  std::vector<uint32_t> touch_contacts_;  // pointer ids down (applied_.touches is their count)
  bool applied_changed_ = false;
  DispatchCounters counters_;
  uint64_t next_log_ns_ = 0;
};

}  // namespace funkhaus::input
