// The dispatcher: range checks, routing to sinks, and the `applied` picture (see dispatcher.h).
#include "funkhaus/input/dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/input_ring.h"

namespace funkhaus::input {

namespace {

constexpr uint64_t kLogIntervalNs = 1'000'000'000;  // refused events are logged this often
constexpr size_t kMaxTrackedContacts = 64;          // more than any touch screen reports

bool keyBit(const abi::InputHeld& held, uint32_t vk) {
  return (held.keys[vk / 64] >> (vk % 64) & 1) != 0;
}
void setKeyBit(abi::InputHeld& held, uint32_t vk, bool down) {
  const uint64_t bit = uint64_t{1} << (vk % 64);
  held.keys[vk / 64] = down ? held.keys[vk / 64] | bit : held.keys[vk / 64] & ~bit;
}
bool bit(uint32_t word, uint32_t n) { return (word >> n & 1) != 0; }

abi::InputEvent synthesised(abi::InputKind kind) {
  abi::InputEvent event{};
  event.kind = static_cast<uint16_t>(kind);
  return event;
}

bool isDown(const abi::InputEvent& event) {
  const auto kind = static_cast<abi::InputKind>(event.kind);
  return kind == abi::InputKind::kKeyDown || kind == abi::InputKind::kButtonDown ||
         kind == abi::InputKind::kPadArrival || kind == abi::InputKind::kPadState ||
         (kind == abi::InputKind::kTouch &&
          event.touch.event == static_cast<uint8_t>(abi::ContactEvent::kDown)) ||
         (kind == abi::InputKind::kPen &&
          event.pen.event == static_cast<uint8_t>(abi::ContactEvent::kDown));
}

}  // namespace

Dispatcher::Dispatcher(std::vector<std::unique_ptr<InputSink>> sinks) : sinks_(std::move(sinks)) {
  for (uint16_t kind = 1; kind <= abi::kMaxInputKind; ++kind) {
    for (auto& sink : sinks_) {
      if (sink->takes(static_cast<abi::InputKind>(kind))) {
        routes_[kind] = sink.get();
        break;
      }
    }
  }
}

InputSink* Dispatcher::sinkFor(abi::InputKind kind) const {
  const auto index = static_cast<uint16_t>(kind);
  return index <= abi::kMaxInputKind ? routes_[index] : nullptr;
}

uint32_t Dispatcher::devices() const {
  uint32_t n = 0;
  for (const auto& sink : sinks_) n += sink->devices();
  return n;
}

bool Dispatcher::takeAppliedChanged() { return std::exchange(applied_changed_, false); }

void Dispatcher::logRefused(const char* what, const abi::InputEvent& event) {
  const uint64_t now = monotonicNs();
  if (now < next_log_ns_) return;
  next_log_ns_ = now + kLogIntervalNs;
  spdlog::warn("input event of kind {} refused: {} ({} out of range, {} refused by sinks so far)",
               event.kind, what, counters_.out_of_range, counters_.sink_errors);
}

Result<void> Dispatcher::dispatch(const abi::InputEvent& event) {
  ++counters_.events_in;
  if (auto wrong = checkInputEvent(event); !wrong) {
    ++counters_.out_of_range;
    logRefused(wrong.error().message.c_str(), event);
    return {};
  }
  if (static_cast<abi::InputKind>(event.kind) == abi::InputKind::kReleaseAll) {
    releaseAll();
    ++counters_.applied;
    return {};
  }
  return apply(event);
}

Result<void> Dispatcher::apply(const abi::InputEvent& event) {
  InputSink* sink = routes_[event.kind];
  if (sink == nullptr) {
    ++counters_.unrouted;
    return {};
  }
  auto result = sink->apply(event);
  if (!result) {
    if (result.error().code == ErrorCode::kPeerLost) return result;
    ++counters_.sink_errors;
    logRefused(result.error().message.c_str(), event);
    // A failed down pressed nothing; a failed up may still have lifted it: forget it either way.
    if (isDown(event)) return {};
  } else {
    ++counters_.applied;
  }
  track(event);
  return {};
}

void Dispatcher::track(const abi::InputEvent& event) {
  const abi::InputHeld before = applied_;
  switch (static_cast<abi::InputKind>(event.kind)) {
    case abi::InputKind::kKeyDown:
    case abi::InputKind::kKeyUp:
      setKeyBit(applied_, event.key.vk,
                event.kind == static_cast<uint16_t>(abi::InputKind::kKeyDown));
      break;
    case abi::InputKind::kButtonDown:
      applied_.buttons |= 1u << event.button.button;
      break;
    case abi::InputKind::kButtonUp:
      applied_.buttons &= ~(1u << event.button.button);
      break;
    case abi::InputKind::kPadArrival:
      if (!bit(applied_.pads, event.index)) applied_.pad[event.index] = abi::InputPad{};
      applied_.pads |= 1u << event.index;
      break;
    case abi::InputKind::kPadState:
      if (bit(event.pad.active_mask, event.index)) {
        applied_.pads |= 1u << event.index;
        applied_.pad[event.index] = event.pad;
      } else {
        applied_.pads &= ~(1u << event.index);
        applied_.pad[event.index] = abi::InputPad{};
      }
      break;
    case abi::InputKind::kPadRemoved:
      applied_.pads &= ~(1u << event.index);
      applied_.pad[event.index] = abi::InputPad{};
      break;
    case abi::InputKind::kTouch: {
      const auto contact = static_cast<abi::ContactEvent>(event.touch.event);
      const uint32_t id = event.touch.pointer_id;
      auto found = std::find(touch_contacts_.begin(), touch_contacts_.end(), id);
      if (contact == abi::ContactEvent::kDown) {
        if (found == touch_contacts_.end() && touch_contacts_.size() < kMaxTrackedContacts)
          touch_contacts_.push_back(id);
      } else if (contact == abi::ContactEvent::kUp || contact == abi::ContactEvent::kCancel) {
        if (found != touch_contacts_.end()) touch_contacts_.erase(found);
      } else if (contact == abi::ContactEvent::kCancelAll) {
        touch_contacts_.clear();
      }
      applied_.touches = static_cast<uint32_t>(touch_contacts_.size());
      break;
    }
    case abi::InputKind::kPen: {
      const auto contact = static_cast<abi::ContactEvent>(event.pen.event);
      if (contact == abi::ContactEvent::kDown)
        applied_.pen = 1;
      else if (contact == abi::ContactEvent::kUp || contact == abi::ContactEvent::kCancel ||
               contact == abi::ContactEvent::kCancelAll ||
               contact == abi::ContactEvent::kHoverLeave)
        applied_.pen = 0;
      break;
    }
    default:
      break;  // motion, scroll, text: nothing stays pressed
  }
  if (std::memcmp(&before, &applied_, sizeof applied_) != 0) applied_changed_ = true;
}

void Dispatcher::releaseAll() {
  for (auto& sink : sinks_) sink->releaseAll();
  applied_ = abi::InputHeld{};
  touch_contacts_.clear();
  applied_changed_ = true;
}

Result<void> Dispatcher::resync(const abi::InputHeld& held, uint64_t lost) {
  ++counters_.overruns;
  counters_.lost += lost;
  const abi::InputHeld applied = applied_;
  auto send = [&](const abi::InputEvent& event) -> Result<void> {
    // `held` comes from the producer too: what it makes us send is checked like an event.
    if (auto wrong = checkInputEvent(event); !wrong) {
      ++counters_.out_of_range;
      logRefused(wrong.error().message.c_str(), event);
      return {};
    }
    return apply(event);
  };
  for (uint32_t vk = 1; vk < 256; ++vk) {
    if (!keyBit(applied, vk) || keyBit(held, vk)) continue;
    auto up = synthesised(abi::InputKind::kKeyUp);
    up.key.vk = vk;
    if (auto r = send(up); !r) return r;
  }
  for (uint32_t button = 1; button <= abi::kMaxMouseButton; ++button) {
    if (!bit(applied.buttons, button) || bit(held.buttons, button)) continue;
    auto up = synthesised(abi::InputKind::kButtonUp);
    up.button.button = button;
    if (auto r = send(up); !r) return r;
  }
  if (applied.touches != 0 && held.touches == 0) {
    auto cancel = synthesised(abi::InputKind::kTouch);
    cancel.touch.event = static_cast<uint8_t>(abi::ContactEvent::kCancelAll);
    cancel.touch.rotation = abi::kRotationUnknown;
    if (auto r = send(cancel); !r) return r;
  }
  if (applied.pen != 0 && held.pen == 0) {
    auto cancel = synthesised(abi::InputKind::kPen);
    cancel.pen.event = static_cast<uint8_t>(abi::ContactEvent::kCancelAll);
    cancel.pen.tool = abi::kPenToolPen;
    cancel.pen.rotation = abi::kRotationUnknown;
    cancel.pen.tilt = abi::kTiltUnknown;
    if (auto r = send(cancel); !r) return r;
  }
  for (uint32_t n = 0; n < abi::kMaxPads; ++n) {
    const bool was = bit(applied.pads, n), is = bit(held.pads, n);
    if (was && !is) {
      auto removed = synthesised(abi::InputKind::kPadRemoved);
      removed.index = static_cast<uint8_t>(n);
      if (auto r = send(removed); !r) return r;
    } else if (is &&
               (!was || std::memcmp(&applied.pad[n], &held.pad[n], sizeof(abi::InputPad)) != 0)) {
      auto state = synthesised(abi::InputKind::kPadState);
      state.index = static_cast<uint8_t>(n);
      state.pad = held.pad[n];
      state.pad.active_mask |= static_cast<uint16_t>(1u << n);
      if (auto r = send(state); !r) return r;
    }
  }
  return {};
}

Result<void> Dispatcher::releasePredecessor(const abi::InputHeld& predecessor) {
  // Straight to the sinks: these are not our events, and an up the sink refuses is no error.
  uint32_t keys = 0, buttons = 0;
  auto lift = [&](const abi::InputEvent& up) -> Result<void> {
    InputSink* sink = routes_[up.kind];
    if (sink == nullptr) return {};
    if (auto r = sink->apply(up); !r && r.error().code == ErrorCode::kPeerLost) return r;
    return {};
  };
  for (uint32_t vk = 1; vk < 256; ++vk) {
    if (!keyBit(predecessor, vk)) continue;
    auto up = synthesised(abi::InputKind::kKeyUp);
    up.key.vk = vk;
    if (auto r = lift(up); !r) return r;
    ++keys;
  }
  for (uint32_t button = 1; button <= abi::kMaxMouseButton; ++button) {
    if (!bit(predecessor.buttons, button)) continue;
    auto up = synthesised(abi::InputKind::kButtonUp);
    up.button.button = button;
    if (auto r = lift(up); !r) return r;
    ++buttons;
  }
  if (keys + buttons != 0 || predecessor.pads != 0 || predecessor.touches != 0 ||
      predecessor.pen != 0)
    spdlog::info(
        "released what the previous worker left down: {} keys, {} buttons ({} pads, {} "
        "contacts, pen {}: gone with its devices)",
        keys, buttons, __builtin_popcount(predecessor.pads), predecessor.touches,
        predecessor.pen != 0 ? "down" : "up");
  applied_ = abi::InputHeld{};
  touch_contacts_.clear();
  applied_changed_ = true;
  flush();
  return {};
}

void Dispatcher::flush() {
  for (auto& sink : sinks_) sink->flush();
}

void Dispatcher::poll() {
  for (auto& sink : sinks_) sink->poll();
}

}  // namespace funkhaus::input
