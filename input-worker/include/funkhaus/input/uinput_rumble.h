// RumbleTracker: the force-feedback effects a game uploaded to one virtual pad and which of them
// play, as the two motors the client has (strong = low frequency, weak = high frequency). Pure
// logic with the time passed in; UinputSink feeds it what it reads from the pad's uinput fd.
// Used on funkhaus-input's main thread only.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include <linux/input.h>

#include "funkhaus/input/uinput_devices.h"

namespace funkhaus::input {

struct RumbleEffect {
  uint16_t strong = 0;     // strong_magnitude: the low-frequency motor
  uint16_t weak = 0;       // weak_magnitude: the high-frequency motor
  uint32_t length_ms = 0;  // replay.length; 0 = until stopped
  uint32_t delay_ms = 0;   // replay.delay
};

struct Motors {
  uint16_t low = 0;
  uint16_t high = 0;
  friend bool operator==(const Motors&, const Motors&) = default;
};

// An uploaded effect as rumble; nullopt for any other type (the pads declare FF_RUMBLE only,
// so the kernel refuses the others before they reach us).
std::optional<RumbleEffect> rumbleOf(const ff_effect& effect);

class RumbleTracker {
 public:
  // False (the upload is refused) when `id` is not one of the pad's effect slots.
  bool upload(int32_t id, const RumbleEffect& effect);
  void erase(int32_t id);  // stops it too
  // EV_FF code `id` with value `count`: play it `count` times (0 = stop).
  void play(int32_t id, int32_t count, uint64_t now_ns);
  // Effects whose replay time is over stop.
  void expire(uint64_t now_ns);
  // The motors now: the strongest of what plays, per motor.
  Motors motors() const;
  void reset() { *this = RumbleTracker{}; }

 private:
  struct Slot {
    std::optional<RumbleEffect> effect;
    bool playing = false;
    uint64_t end_ns = 0;  // 0 = until stopped
  };
  std::array<Slot, kPadEffectsMax> slots_{};
};

}  // namespace funkhaus::input
