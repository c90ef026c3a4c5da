// What each virtual device of the uinput backend declares (see uinput_devices.h).
#include "funkhaus/input/uinput_devices.h"

#include <algorithm>
#include <cstdlib>

#include <linux/input.h>

#include <fmt/format.h>

#include "funkhaus/input/uinput_mapping.h"

namespace funkhaus::input {

namespace {

DeviceSpec padSpec(uint32_t pad) {
  DeviceSpec spec;
  spec.name = deviceName(padDevice(pad));
  spec.bustype = BUS_USB;
  spec.vendor = kPadVendor;
  spec.product = kPadProduct;
  spec.version = kPadVersion;
  spec.keys = {BTN_SOUTH,  BTN_EAST,  BTN_NORTH, BTN_WEST,   BTN_TL,    BTN_TR,
               BTN_SELECT, BTN_START, BTN_MODE,  BTN_THUMBL, BTN_THUMBR};
  for (uint16_t code : {ABS_X, ABS_Y, ABS_RX, ABS_RY})
    spec.axes.push_back({code, kPadStickMin, kPadStickMax, 16, 128});
  for (uint16_t code : {ABS_Z, ABS_RZ}) spec.axes.push_back({code, 0, kPadTriggerMax});
  for (uint16_t code : {ABS_HAT0X, ABS_HAT0Y}) spec.axes.push_back({code, -1, 1});
  spec.ffs = {FF_RUMBLE};
  spec.ff_effects_max = kPadEffectsMax;
  return spec;
}

DeviceSpec keyboardSpec() {
  DeviceSpec spec;
  spec.name = deviceName(VirtualDevice::kKeyboard);
  spec.bustype = BUS_VIRTUAL;
  for (uint32_t vk = 1; vk <= 255; ++vk)
    if (uint16_t key = keyForVk(vk); key != 0) spec.keys.push_back(key);
  std::sort(spec.keys.begin(), spec.keys.end());
  spec.keys.erase(std::unique(spec.keys.begin(), spec.keys.end()), spec.keys.end());
  // No EV_REP: the client repeats held keys itself (as repeated key-downs); a kernel repeat on
  // top would double them.
  return spec;
}

std::vector<uint16_t> mouseButtons() {
  std::vector<uint16_t> keys;
  for (uint32_t b = 1; b <= abi::kMaxMouseButton; ++b) keys.push_back(buttonForMouse(b));
  return keys;
}

DeviceSpec mouseSpec() {
  DeviceSpec spec;
  spec.name = deviceName(VirtualDevice::kMouse);
  spec.bustype = BUS_VIRTUAL;
  spec.keys = mouseButtons();
  spec.rels = {REL_X, REL_Y, REL_WHEEL, REL_HWHEEL, REL_WHEEL_HI_RES, REL_HWHEEL_HI_RES};
  return spec;
}

DeviceSpec absoluteMouseSpec() {
  DeviceSpec spec;
  spec.name = deviceName(VirtualDevice::kAbsoluteMouse);
  spec.bustype = BUS_VIRTUAL;
  // The buttons are never pressed here (they go to the relative mouse, which moves the same
  // cursor), but without them udev and libinput would not call this a mouse.
  spec.keys = mouseButtons();
  spec.axes = {{ABS_X, 0, kSurfaceMaxX, 0, 0, kSurfaceResolution},
               {ABS_Y, 0, kSurfaceMaxY, 0, 0, kSurfaceResolution}};
  spec.props = {INPUT_PROP_POINTER};
  return spec;
}

DeviceSpec touchSpec() {
  DeviceSpec spec;
  spec.name = deviceName(VirtualDevice::kTouchScreen);
  spec.bustype = BUS_VIRTUAL;
  spec.keys = {BTN_TOUCH};
  spec.axes = {
      {ABS_X, 0, kSurfaceMaxX, 0, 0, kSurfaceResolution},
      {ABS_Y, 0, kSurfaceMaxY, 0, 0, kSurfaceResolution},
      {ABS_MT_SLOT, 0, static_cast<int32_t>(kTouchSlots) - 1},
      {ABS_MT_TRACKING_ID, 0, 65535},
      {ABS_MT_POSITION_X, 0, kSurfaceMaxX, 0, 0, kSurfaceResolution},
      {ABS_MT_POSITION_Y, 0, kSurfaceMaxY, 0, 0, kSurfaceResolution},
      {ABS_MT_PRESSURE, 0, kTouchPressureMax},
      {ABS_MT_TOUCH_MAJOR, 0, kSurfaceMaxX, 0, 0, kSurfaceResolution},
      {ABS_MT_TOUCH_MINOR, 0, kSurfaceMaxX, 0, 0, kSurfaceResolution},
      {ABS_MT_ORIENTATION, -90, 90},
  };
  spec.props = {INPUT_PROP_DIRECT};
  return spec;
}

DeviceSpec penSpec() {
  DeviceSpec spec;
  spec.name = deviceName(VirtualDevice::kPen);
  spec.bustype = BUS_VIRTUAL;
  spec.keys = {BTN_TOOL_PEN, BTN_TOOL_RUBBER, BTN_TOUCH, BTN_STYLUS, BTN_STYLUS2, BTN_STYLUS3};
  spec.axes = {
      {ABS_X, 0, kSurfaceMaxX, 0, 0, kSurfaceResolution},
      {ABS_Y, 0, kSurfaceMaxY, 0, 0, kSurfaceResolution},
      {ABS_PRESSURE, 0, kPenPressureMax},
      {ABS_DISTANCE, 0, kPenDistanceMax},
      {ABS_TILT_X, -kPenTiltMax, kPenTiltMax, 0, 0, kPenTiltResolution},
      {ABS_TILT_Y, -kPenTiltMax, kPenTiltMax, 0, 0, kPenTiltResolution},
  };
  // The client's pen coordinates are positions in the picture, i.e. on the screen: a display
  // tablet (INPUT_PROP_DIRECT), not an indirect one (INPUT_PROP_POINTER, mapped like a mouse).
  spec.props = {INPUT_PROP_DIRECT};
  return spec;
}

}  // namespace

std::string deviceName(VirtualDevice device) {
  if (isPad(device)) return fmt::format("funkhaus pad {}", static_cast<uint32_t>(device));
  switch (device) {
    case VirtualDevice::kKeyboard:
      return "funkhaus keyboard";
    case VirtualDevice::kMouse:
      return "funkhaus mouse";
    case VirtualDevice::kAbsoluteMouse:
      return "funkhaus mouse (absolute)";
    case VirtualDevice::kTouchScreen:
      return "funkhaus touchscreen";
    case VirtualDevice::kPen:
      return "funkhaus pen";
    default:
      return "funkhaus ?";
  }
}

DeviceSpec deviceSpec(VirtualDevice device) {
  if (isPad(device)) return padSpec(static_cast<uint32_t>(device));
  switch (device) {
    case VirtualDevice::kKeyboard:
      return keyboardSpec();
    case VirtualDevice::kMouse:
      return mouseSpec();
    case VirtualDevice::kAbsoluteMouse:
      return absoluteMouseSpec();
    case VirtualDevice::kTouchScreen:
      return touchSpec();
    case VirtualDevice::kPen:
      return penSpec();
    default:
      std::abort();  // broken invariant: no such device
  }
}

}  // namespace funkhaus::input
