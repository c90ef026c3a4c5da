// The virtual evdev devices of the uinput backend: which ones there are, what each declares
// (name, id, keys, axes, properties, force feedback) and the units of their axes. Pure data; any
// thread. uinput_mapping.h writes events for these devices, uinput_device.h creates them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "funkhaus/abi/input_ring.h"

namespace funkhaus::input {

// One evdev event as the sink writes it to a uinput fd (struct input_event without the time,
// which the kernel stamps itself).
struct EvdevEvent {
  uint16_t type;
  uint16_t code;
  int32_t value;
  friend bool operator==(const EvdevEvent&, const EvdevEvent&) = default;
};

// The devices one sink may create, each on its own /dev/uinput fd. Pads are 0..kMaxPads-1.
enum class VirtualDevice : uint8_t {
  kPad0 = 0,
  kKeyboard = abi::kMaxPads,
  kMouse,          // relative motion, buttons, wheels
  kAbsoluteMouse,  // absolute position (kMousePosition)
  kTouchScreen,
  kPen,
};
inline constexpr size_t kVirtualDeviceCount = static_cast<size_t>(VirtualDevice::kPen) + 1;

constexpr VirtualDevice padDevice(uint32_t pad) { return static_cast<VirtualDevice>(pad); }
constexpr bool isPad(VirtualDevice device) { return static_cast<uint32_t>(device) < abi::kMaxPads; }
constexpr size_t deviceIndex(VirtualDevice device) { return static_cast<size_t>(device); }

// The surface that 0..1 of the video area maps to (touch screen, pen, absolute mouse): 0..19200 x
// 0..10800, i.e. 10 units per pixel of a 1920x1080 picture, 16:9 like most streams. The
// resolution (40 units/mm) makes it a 480 x 270 mm (21.7") screen for whoever asks for sizes.
inline constexpr int32_t kSurfaceMaxX = 19200;
inline constexpr int32_t kSurfaceMaxY = 10800;
inline constexpr int32_t kSurfaceResolution = 40;

inline constexpr uint32_t kTouchSlots = 10;
inline constexpr int32_t kTouchPressureMax = 1024;
inline constexpr int32_t kPenPressureMax = 65535;
inline constexpr int32_t kPenDistanceMax = 1024;
inline constexpr int32_t kPenTiltMax = 90;         // degrees, -90..90
inline constexpr int32_t kPenTiltResolution = 57;  // units per radian (1 unit = 1 degree)
inline constexpr int32_t kPadStickMin = -32768;    // ABS_X/Y/RX/RY
inline constexpr int32_t kPadStickMax = 32767;
inline constexpr int32_t kPadTriggerMax = 255;  // ABS_Z/RZ
inline constexpr int32_t kWheelNotch = 120;     // REL_WHEEL_HI_RES units per REL_WHEEL
inline constexpr uint32_t kPadEffectsMax = 16;  // force-feedback effects a game may upload

// "Xbox 360 controller" ids (USB 045E:028E), so that SDL, Steam and games apply their Xbox 360
// mapping to the pads; the buttons and axes below are the ones the kernel's xpad driver reports.
inline constexpr uint16_t kPadVendor = 0x045E;
inline constexpr uint16_t kPadProduct = 0x028E;
inline constexpr uint16_t kPadVersion = 0x0114;

struct AbsAxis {
  uint16_t code;
  int32_t minimum;
  int32_t maximum;
  int32_t fuzz = 0;
  int32_t flat = 0;
  int32_t resolution = 0;
};

// Everything UI_DEV_SETUP and the UI_SET_*BIT / UI_ABS_SETUP ioctls need for one device.
struct DeviceSpec {
  std::string name;  // "funkhaus ...", < UINPUT_MAX_NAME_SIZE
  uint16_t bustype = 0;
  uint16_t vendor = 0;
  uint16_t product = 0;
  uint16_t version = 0;
  std::vector<uint16_t> keys;   // EV_KEY codes
  std::vector<uint16_t> rels;   // EV_REL codes
  std::vector<AbsAxis> axes;    // EV_ABS codes with their ranges
  std::vector<uint16_t> props;  // INPUT_PROP_*
  std::vector<uint16_t> ffs;    // EV_FF codes
  uint32_t ff_effects_max = 0;  // > 0 when ffs is not empty
};

DeviceSpec deviceSpec(VirtualDevice device);

// The name each device gets ("funkhaus pad 3", "funkhaus keyboard", ...).
std::string deviceName(VirtualDevice device);

}  // namespace funkhaus::input
