// InputSink: a place the input worker's events go: the session's X display (XTEST) or virtual
// evdev devices (uinput). Used on funkhaus-input's main thread only (not thread-safe).
//
// Contract for implementations (xtest_sink.cpp; uinput_sink.cpp by engineer C):
// - The dispatcher has range-checked every event before apply() (kind known, vk 1..255,
//   button 1..kMaxMouseButton, pad index < kMaxPads, code point a Unicode scalar value, floats
//   finite). A sink may still refuse an event it cannot express by returning an Error; the
//   dispatcher counts it and carries on (an Error never ends the worker).
// - apply() only gets the kinds the sink said it takes(); kReleaseAll never reaches apply():
//   the dispatcher calls releaseAll() instead.
// - A sink keeps its own record of what it pressed, so releaseAll() can lift exactly that;
//   the dispatcher separately keeps the ring's `applied` word for a successor after a crash.
// - apply() may buffer; the dispatcher calls flush() after each batch of events it read.
#pragma once

#include <cstdint>

#include "funkhaus/abi/input_ring.h"
#include "funkhaus/common/result.h"

namespace funkhaus::input {

class InputSink {
 public:
  virtual ~InputSink() = default;
  virtual const char* name() const = 0;
  virtual bool takes(abi::InputKind kind) const = 0;             // events of this kind go here
  virtual Result<void> apply(const abi::InputEvent& event) = 0;  // range-checked already
  virtual void releaseAll() = 0;         // keys, buttons, contacts up; pads removed
  virtual void flush() {}                // after each batch: push buffered requests/reports out
  virtual void poll() {}                 // e.g. read rumble uploads (uinput); called every step
  virtual uint32_t devices() const = 0;  // devices it has now (status)
};

}  // namespace funkhaus::input
