// InputSink: a place the input worker's events go: the session's X display (XTEST) or virtual
// evdev devices (uinput). Used on funkhaus-input's main thread only (not thread-safe).
//
// Contract for implementations (xtest_sink.cpp; uinput_sink.cpp):
// - The dispatcher has range-checked every event before apply() (checkInputEvent() of
//   common/input_ring.h: kind known, vk 1..255, button 1..kMaxMouseButton, pad index <
//   kMaxPads, code point a Unicode scalar value, contact events known, floats finite, ...). A sink
//   may still refuse an event it cannot express by returning an Error; the dispatcher counts it and
//   carries on. Only an Error with ErrorCode::kPeerLost (the display or device is gone for good)
//   ends the worker, which funkhausd then restarts.
// - apply() only gets the kinds the sink said it takes(); kReleaseAll never reaches apply():
//   the dispatcher calls releaseAll() instead.
// - apply() may get an "up" the sink never saw go down: a kKeyUp / kButtonUp of a key or button
//   a crashed predecessor or a lost event left down, a kTouch / kPen with ContactEvent::kCancelAll
//   (lift every contact; the coordinates are 0), a kPadRemoved of an absent pad, or a kPadState
//   of a pad that had no kPadArrival (its active_mask bit is set: create it, as GameStream's
//   "create on mask bit" does). The dispatcher sends these after an overrun so that the newest
//   state wins; a sink sends or ignores them, whichever is harmless for it.
// - A sink keeps its own record of what it pressed, so releaseAll() can lift exactly that; the
//   dispatcher keeps the ring's `applied` for a successor after a crash.
// - apply() may buffer; the dispatcher calls flush() after each batch it read, and poll() at
//   least every turn of the worker (20 ms), also when no input comes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "funkhaus/abi/input_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::input {

class InputSink {
 public:
  virtual ~InputSink() = default;
  virtual const char* name() const = 0;
  virtual bool takes(abi::InputKind kind) const = 0;             // events of this kind go here
  virtual Result<void> apply(const abi::InputEvent& event) = 0;  // range-checked already
  virtual void releaseAll() = 0;         // keys, buttons, contacts up; pads removed
  virtual void flush() {}                // after each batch: push buffered requests/reports out
  virtual void poll() {}                 // e.g. read rumble uploads (uinput)
  virtual uint32_t devices() const = 0;  // devices it has now (status)
};

// Force feedback a game played on pad `pad` (< kMaxPads): the two motors, 0..65535. Called from
// a sink's poll() on the main thread; the worker puts it into the ring's `rumble`.
using RumbleCallback =
    std::function<void(uint32_t pad, uint16_t low_frequency, uint16_t high_frequency)>;

// What the uinput sink takes: `keyboard_mouse` when keys, mouse and scroll go to uinput too
// (no X display); pads, touch and pen always.
struct UinputOptions {
  bool keyboard_mouse = false;
};

// The uinput backend's factory (implemented in uinput_*.cpp): virtual devices created on the
// open /dev/uinput fds funkhausd handed over (DeviceId::kUinput, one per device it may create).
// Until that backend is in the tree, no_uinput.cpp answers kUnsupported.
Result<std::unique_ptr<InputSink>> createUinputSink(std::vector<UniqueFd> uinput_fds,
                                                    const UinputOptions& options,
                                                    RumbleCallback rumble);

}  // namespace funkhaus::input
