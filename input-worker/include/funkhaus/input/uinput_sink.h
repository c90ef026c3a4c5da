// UinputSink: the InputSink that feeds virtual evdev devices -- Xbox-360-like pads with rumble,
// a touch screen, a pen tablet, and (options.keyboard_mouse, for sessions without X) a keyboard,
// a relative and an absolute mouse -- each created on first use on one of the /dev/uinput fds
// funkhausd opened and handed over (it never opens /dev/uinput itself). Used on funkhaus-input's
// main thread only.
//
// fds: one per device that may exist at once: 16 pads + touch screen + pen (+ keyboard, mouse,
// absolute mouse) = uinputFdsWanted(options), 18 or 21. With fewer, the devices beyond them are
// refused (an Error per event; the others work). A destroyed pad's fd serves the next device.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "funkhaus/input/input_sink.h"
#include "funkhaus/input/uinput_device.h"
#include "funkhaus/input/uinput_mapping.h"
#include "funkhaus/input/uinput_rumble.h"

namespace funkhaus::input {

constexpr uint32_t uinputFdsWanted(const UinputOptions& options) {
  return abi::kMaxPads + 2 + (options.keyboard_mouse ? 3 : 0);
}

class UinputSink final : public InputSink {
 public:
  // `uinput_fds`: open /dev/uinput fds (O_RDWR) this sink owns from now on. `rumble` gets the
  // motors of a pad whenever a game's force feedback changes them (and 0,0 when the pad goes).
  UinputSink(std::vector<UniqueFd> uinput_fds, const UinputOptions& options, RumbleCallback rumble);
  ~UinputSink() override;  // destroys every device

  const char* name() const override { return "uinput"; }
  bool takes(abi::InputKind kind) const override;
  Result<void> apply(const abi::InputEvent& event) override;
  void releaseAll() override;
  void poll() override;  // answers force-feedback uploads and reports rumble
  uint32_t devices() const override;

  uint32_t freeFds() const { return static_cast<uint32_t>(pool_.size()); }
  // The device's "inputN" in /sys/devices/virtual/input, empty when it does not exist.
  std::string sysname(VirtualDevice device) const;

 private:
  Result<void> run(std::vector<UinputAction>& actions);
  Result<UinputDevice*> ensure(VirtualDevice device);
  void destroy(VirtualDevice device);
  void pollPad(uint32_t pad, UinputDevice& device, uint64_t now_ns);
  void reportRumble(uint32_t pad);

  UinputOptions options_;
  RumbleCallback rumble_;
  std::vector<UniqueFd> pool_;  // fds with no device on them
  std::array<std::optional<UinputDevice>, kVirtualDeviceCount> devices_;
  UinputMapper mapper_;
  std::array<RumbleTracker, abi::kMaxPads> effects_;
  std::array<Motors, abi::kMaxPads> reported_{};
  std::vector<UinputAction> actions_;  // reused between events
};

}  // namespace funkhaus::input
