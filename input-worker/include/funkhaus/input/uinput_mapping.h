// UinputMapper: turns input-ring events into what the uinput backend does with its virtual devices
// (create one, write evdev frames to one, destroy one), keeping the state that needs (keys and
// buttons down, pads present and their last values, touch slots, the pen). Pure logic without
// the kernel, so the mapping is unit-tested; UinputSink carries the actions out. Used on
// funkhaus-input's main thread only.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <vector>

#include <linux/input-event-codes.h>

#include "funkhaus/abi/input_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/input/uinput_devices.h"

namespace funkhaus::input {

// Windows virtual-key code -> KEY_*, 0 when the key has no Linux key (gamestream.md §8.1; the
// generic VK_SHIFT/CONTROL/MENU give the left-hand key).
uint16_t keyForVk(uint32_t vk);

// GameStream mouse button (1 left, 2 middle, 3 right, 4 X1, 5 X2) -> BTN_*, 0 when none.
uint16_t buttonForMouse(uint32_t button);

// A pad's state as evdev sees it (buttons as GameStream bits, axes in evdev's units and sense).
struct PadValues {
  uint32_t buttons = 0;  // abi::kPad* bits that have an evdev button (not the d-pad)
  int32_t x = 0, y = 0, rx = 0, ry = 0;  // Y down = positive (GameStream's Y negated)
  int32_t z = 0, rz = 0;                 // triggers 0..255
  int32_t hat_x = 0, hat_y = 0;          // d-pad, -1..1 (hat_y -1 = up)
  friend bool operator==(const PadValues&, const PadValues&) = default;
};
PadValues padValues(const abi::InputPad& pad);
// The events that take a pad from `before` to `after` (only what changed; no SYN_REPORT).
void padDifference(const PadValues& before, const PadValues& after, std::vector<EvdevEvent>& out);

// What the sink does for one event.
struct UinputAction {
  enum class Op : uint8_t {
    kCreate,   // make sure the device exists (a pad arrived)
    kWrite,    // write `events` (one or more frames, each ending in SYN_REPORT); create if absent
    kDestroy,  // the device goes away (a pad was removed)
  };
  Op op;
  VirtualDevice device;
  std::vector<EvdevEvent> events;
  friend bool operator==(const UinputAction&, const UinputAction&) = default;
};

class UinputMapper {
 public:
  // Appends what `event` takes to `out`. An event it refuses (out of range even though the
  // dispatcher checked it, a key with no Linux key, a contact it does not know, no free touch
  // slot, a kind it does not handle) appends nothing, changes nothing and is an Error.
  Result<void> map(const abi::InputEvent& event, std::vector<UinputAction>& out);

  // Everything up: keys, buttons, touch contacts and the pen; every pad removed.
  void releaseAll(std::vector<UinputAction>& out);

  // `device` could not be created: forget what was recorded for it, so the next event starts it
  // afresh (and tries to create it again).
  void forget(VirtualDevice device);

  // For tests and status.
  bool padPresent(uint32_t pad) const { return pads_[pad].has_value(); }
  uint32_t contactsDown() const;
  bool keyDown(uint16_t key) const { return keys_.test(key); }

 private:
  struct Contact {
    bool active = false;
    uint32_t pointer_id = 0;
    int32_t tracking_id = 0;
    uint64_t since = 0;  // order of arrival: the oldest contact drives ABS_X/Y
    int32_t x = 0, y = 0;
  };
  struct Pen {
    uint16_t tool = 0;  // BTN_TOOL_PEN / BTN_TOOL_RUBBER while in proximity, else 0
    bool touching = false;
    uint8_t buttons = 0;
  };

  Result<void> mapKey(const abi::InputEvent& event, std::vector<UinputAction>& out);
  Result<void> mapButton(const abi::InputEvent& event, std::vector<UinputAction>& out);
  Result<void> mapScroll(const abi::InputEvent& event, std::vector<UinputAction>& out);
  Result<void> mapPad(const abi::InputEvent& event, std::vector<UinputAction>& out);
  Result<void> mapTouch(const abi::InputTouch& touch, std::vector<UinputAction>& out);
  Result<void> mapPen(const abi::InputPen& pen, std::vector<UinputAction>& out);
  void liftContact(uint32_t slot, std::vector<EvdevEvent>& events);
  void touchEmulation(std::vector<EvdevEvent>& events) const;
  void penLeave(std::vector<EvdevEvent>& events);

  std::bitset<KEY_CNT> keys_;
  uint32_t buttons_ = 0;            // bit b: mouse button b down
  std::array<int32_t, 2> wheel_{};  // hi-res remainders (vertical, horizontal) short of a notch
  std::array<std::optional<PadValues>, abi::kMaxPads> pads_;
  std::array<Contact, kTouchSlots> contacts_;
  int32_t next_tracking_id_ = 0;
  uint64_t next_since_ = 0;
  Pen pen_;
};

}  // namespace funkhaus::input
