// Force-feedback effects of one virtual pad (see uinput_rumble.h).
#include "funkhaus/input/uinput_rumble.h"

#include <algorithm>

namespace funkhaus::input {

std::optional<RumbleEffect> rumbleOf(const ff_effect& effect) {
  if (effect.type != FF_RUMBLE) return std::nullopt;
  return RumbleEffect{effect.u.rumble.strong_magnitude, effect.u.rumble.weak_magnitude,
                      effect.replay.length, effect.replay.delay};
}

bool RumbleTracker::upload(int32_t id, const RumbleEffect& effect) {
  if (id < 0 || static_cast<uint32_t>(id) >= slots_.size()) return false;
  // A playing effect that is updated keeps playing with its new magnitudes (games change the
  // strength of a running effect this way).
  slots_[static_cast<size_t>(id)].effect = effect;
  return true;
}

void RumbleTracker::erase(int32_t id) {
  if (id < 0 || static_cast<uint32_t>(id) >= slots_.size()) return;
  slots_[static_cast<size_t>(id)] = Slot{};
}

void RumbleTracker::play(int32_t id, int32_t count, uint64_t now_ns) {
  if (id < 0 || static_cast<uint32_t>(id) >= slots_.size()) return;
  Slot& slot = slots_[static_cast<size_t>(id)];
  if (!slot.effect || count <= 0) {
    slot.playing = false;
    return;
  }
  slot.playing = true;
  slot.end_ns = 0;
  if (slot.effect->length_ms > 0) {
    const uint64_t ms = uint64_t{slot.effect->delay_ms} +
                        uint64_t{slot.effect->length_ms} * static_cast<uint64_t>(count);
    slot.end_ns = now_ns + ms * 1'000'000;
  }
}

void RumbleTracker::expire(uint64_t now_ns) {
  for (Slot& slot : slots_)
    if (slot.playing && slot.end_ns != 0 && now_ns >= slot.end_ns) slot.playing = false;
}

Motors RumbleTracker::motors() const {
  Motors m;
  for (const Slot& slot : slots_)
    if (slot.playing && slot.effect) {
      m.low = std::max(m.low, slot.effect->strong);
      m.high = std::max(m.high, slot.effect->weak);
    }
  return m;
}

}  // namespace funkhaus::input
