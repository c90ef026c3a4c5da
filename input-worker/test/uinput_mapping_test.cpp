// Unit tests of the uinput backend's mapping (UinputMapper, the VK table, the device specs):
// input-ring events -> device actions and evdev frames, without the kernel.
#include "funkhaus/input/uinput_mapping.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>
#include <linux/input.h>

#include "funkhaus/input/uinput_devices.h"

namespace funkhaus::input {
namespace {

using Op = UinputAction::Op;
constexpr EvdevEvent kSyn{EV_SYN, SYN_REPORT, 0};

abi::InputEvent event(abi::InputKind kind) {
  abi::InputEvent e{};
  e.kind = static_cast<uint16_t>(kind);
  return e;
}

abi::InputEvent key(abi::InputKind kind, uint32_t vk) {
  abi::InputEvent e = event(kind);
  e.key.vk = vk;
  return e;
}

abi::InputEvent padState(uint8_t pad, uint16_t mask, uint32_t buttons = 0) {
  abi::InputEvent e = event(abi::InputKind::kPadState);
  e.index = pad;
  e.pad.active_mask = mask;
  e.pad.buttons = buttons;
  return e;
}

abi::InputEvent touch(abi::ContactEvent what, uint32_t id, float x = 0, float y = 0) {
  abi::InputEvent e = event(abi::InputKind::kTouch);
  e.touch.event = static_cast<uint8_t>(what);
  e.touch.pointer_id = id;
  e.touch.rotation = abi::kRotationUnknown;
  e.touch.x = x;
  e.touch.y = y;
  e.touch.pressure = 0.5f;
  return e;
}

abi::InputEvent pen(abi::ContactEvent what, float x, float y, float pressure,
                    uint8_t tool = abi::kPenToolPen) {
  abi::InputEvent e = event(abi::InputKind::kPen);
  e.pen.event = static_cast<uint8_t>(what);
  e.pen.tool = tool;
  e.pen.tilt = abi::kTiltUnknown;
  e.pen.rotation = abi::kRotationUnknown;
  e.pen.x = x;
  e.pen.y = y;
  e.pen.pressure = pressure;
  return e;
}

std::vector<UinputAction> mapOk(UinputMapper& mapper, const abi::InputEvent& e) {
  std::vector<UinputAction> out;
  auto r = mapper.map(e, out);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return out;
}

std::vector<UinputAction> mapFails(UinputMapper& mapper, const abi::InputEvent& e) {
  std::vector<UinputAction> out;
  auto r = mapper.map(e, out);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(out.empty());
  return out;
}

// The value of (type, code) in the events, or -999 when absent.
int32_t valueOf(const std::vector<EvdevEvent>& events, uint16_t type, uint16_t code) {
  int32_t v = -999;
  for (const EvdevEvent& e : events)
    if (e.type == type && e.code == code) v = e.value;
  return v;
}

TEST(UinputVkTable, MapsTheTableOfGamestreamMd) {
  EXPECT_EQ(keyForVk(0x41), KEY_A);
  EXPECT_EQ(keyForVk(0x5A), KEY_Z);
  EXPECT_EQ(keyForVk(0x51), KEY_Q);
  EXPECT_EQ(keyForVk(0x30), KEY_0);
  EXPECT_EQ(keyForVk(0x31), KEY_1);
  EXPECT_EQ(keyForVk(0x0D), KEY_ENTER);
  EXPECT_EQ(keyForVk(0x10), KEY_LEFTSHIFT);
  EXPECT_EQ(keyForVk(0xA1), KEY_RIGHTSHIFT);
  EXPECT_EQ(keyForVk(0x12), KEY_LEFTALT);
  EXPECT_EQ(keyForVk(0xA5), KEY_RIGHTALT);
  EXPECT_EQ(keyForVk(0x25), KEY_LEFT);
  EXPECT_EQ(keyForVk(0x28), KEY_DOWN);
  EXPECT_EQ(keyForVk(0x60), KEY_KP0);
  EXPECT_EQ(keyForVk(0x69), KEY_KP9);
  EXPECT_EQ(keyForVk(0x70), KEY_F1);
  EXPECT_EQ(keyForVk(0x7B), KEY_F12);
  EXPECT_EQ(keyForVk(0x87), KEY_F24);
  EXPECT_EQ(keyForVk(0xC0), KEY_GRAVE);
  EXPECT_EQ(keyForVk(0xE2), KEY_102ND);
  EXPECT_EQ(keyForVk(0x01), 0);  // VK_LBUTTON: no key
  EXPECT_EQ(keyForVk(0xFF), 0);
  EXPECT_EQ(keyForVk(256), 0);
}

TEST(UinputDeviceSpec, EveryCodeTheMapperWritesIsDeclared) {
  const DeviceSpec keyboard = deviceSpec(VirtualDevice::kKeyboard);
  for (uint32_t vk = 1; vk < 256; ++vk) {
    if (uint16_t k = keyForVk(vk); k != 0) {
      EXPECT_NE(std::find(keyboard.keys.begin(), keyboard.keys.end(), k), keyboard.keys.end());
    }
  }
  const DeviceSpec pad = deviceSpec(padDevice(3));
  EXPECT_EQ(pad.name, "funkhaus pad 3");
  EXPECT_EQ(pad.ff_effects_max, 16u);
  EXPECT_EQ(pad.vendor, 0x045E);
  for (VirtualDevice d :
       {padDevice(0), VirtualDevice::kKeyboard, VirtualDevice::kMouse,
        VirtualDevice::kAbsoluteMouse, VirtualDevice::kTouchScreen, VirtualDevice::kPen}) {
    const DeviceSpec spec = deviceSpec(d);
    EXPECT_EQ(spec.name.rfind("funkhaus ", 0), 0u) << spec.name;
    EXPECT_LT(spec.name.size(), 80u);
    std::set<uint16_t> axes;
    for (const AbsAxis& a : spec.axes) {
      EXPECT_LT(a.minimum, a.maximum) << spec.name << " axis " << a.code;
      EXPECT_TRUE(axes.insert(a.code).second) << spec.name << " axis " << a.code << " twice";
    }
  }
}

TEST(UinputMapper, KeyDownRepeatUp) {
  UinputMapper m;
  auto down = mapOk(m, key(abi::InputKind::kKeyDown, 0x41));
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].op, Op::kWrite);
  EXPECT_EQ(down[0].device, VirtualDevice::kKeyboard);
  EXPECT_EQ(down[0].events, (std::vector<EvdevEvent>{{EV_KEY, KEY_A, 1}, kSyn}));
  auto repeat = mapOk(m, key(abi::InputKind::kKeyDown, 0x41));
  EXPECT_EQ(repeat[0].events, (std::vector<EvdevEvent>{{EV_KEY, KEY_A, 2}, kSyn}));
  auto up = mapOk(m, key(abi::InputKind::kKeyUp, 0x41));
  EXPECT_EQ(up[0].events, (std::vector<EvdevEvent>{{EV_KEY, KEY_A, 0}, kSyn}));
  EXPECT_TRUE(mapOk(m, key(abi::InputKind::kKeyUp, 0x41)).empty());  // an up never pressed
}

TEST(UinputMapper, RefusesWhatItCannotExpress) {
  UinputMapper m;
  mapFails(m, key(abi::InputKind::kKeyDown, 0));
  mapFails(m, key(abi::InputKind::kKeyDown, 256));
  mapFails(m, key(abi::InputKind::kKeyDown, 0x01));  // no Linux key
  abi::InputEvent b = event(abi::InputKind::kButtonDown);
  b.button.button = 6;
  mapFails(m, b);
  mapFails(m, padState(16, 0xFFFF));
  abi::InputEvent badButtons = padState(0, 1, 0x800000);
  mapFails(m, badButtons);
  mapFails(m, touch(abi::ContactEvent::kDown, 1, 1.5f, 0.5f));
  mapFails(m, touch(abi::ContactEvent::kDown, 1, std::nanf(""), 0.5f));
  mapFails(m, touch(abi::ContactEvent::kMove, 9, 0.5f, 0.5f));  // not down
  abi::InputEvent t = touch(abi::ContactEvent::kDown, 1, 0.5f, 0.5f);
  t.touch.rotation = 360;
  mapFails(m, t);
  abi::InputEvent p = pen(abi::ContactEvent::kDown, 0.5f, 0.5f, 0.5f);
  p.pen.tilt = 91;
  mapFails(m, p);
  mapFails(m, pen(abi::ContactEvent::kDown, 0.5f, -0.1f, 0.5f));
  mapFails(m, pen(abi::ContactEvent::kDown, 0.5f, 0.5f, 0.5f, 3));
  abi::InputEvent pos = event(abi::InputKind::kMousePosition);
  pos.pointer = {100, 10, 100, 100};
  mapFails(m, pos);
  pos.pointer = {1, 1, 0, 100};
  mapFails(m, pos);
  mapFails(m, event(abi::InputKind::kText));
  abi::InputEvent unknown{};
  unknown.kind = 99;
  mapFails(m, unknown);
}

TEST(UinputMapper, MouseMotionButtonsAndWheels) {
  UinputMapper m;
  abi::InputEvent move = event(abi::InputKind::kMouseMove);
  move.pointer.x = 5;
  move.pointer.y = -3;
  auto a = mapOk(m, move);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].device, VirtualDevice::kMouse);
  EXPECT_EQ(a[0].events, (std::vector<EvdevEvent>{{EV_REL, REL_X, 5}, {EV_REL, REL_Y, -3}, kSyn}));

  abi::InputEvent down = event(abi::InputKind::kButtonDown);
  down.button.button = 4;
  EXPECT_EQ(mapOk(m, down)[0].events, (std::vector<EvdevEvent>{{EV_KEY, BTN_SIDE, 1}, kSyn}));
  EXPECT_TRUE(mapOk(m, down).empty());  // already down

  // 60 + 60 = one notch; hi-res gets every amount.
  abi::InputEvent scroll = event(abi::InputKind::kScroll);
  scroll.scroll.amount = 60;
  EXPECT_EQ(mapOk(m, scroll)[0].events,
            (std::vector<EvdevEvent>{{EV_REL, REL_WHEEL_HI_RES, 60}, kSyn}));
  EXPECT_EQ(
      mapOk(m, scroll)[0].events,
      (std::vector<EvdevEvent>{{EV_REL, REL_WHEEL_HI_RES, 60}, {EV_REL, REL_WHEEL, 1}, kSyn}));
  scroll.scroll.amount = -240;
  EXPECT_EQ(
      mapOk(m, scroll)[0].events,
      (std::vector<EvdevEvent>{{EV_REL, REL_WHEEL_HI_RES, -240}, {EV_REL, REL_WHEEL, -2}, kSyn}));
  abi::InputEvent h = event(abi::InputKind::kHScroll);
  h.scroll.amount = 120;
  EXPECT_EQ(
      mapOk(m, h)[0].events,
      (std::vector<EvdevEvent>{{EV_REL, REL_HWHEEL_HI_RES, 120}, {EV_REL, REL_HWHEEL, 1}, kSyn}));

  abi::InputEvent pos = event(abi::InputKind::kMousePosition);
  pos.pointer = {1919, 540, 1920, 1081};
  auto p = mapOk(m, pos);
  EXPECT_EQ(p[0].device, VirtualDevice::kAbsoluteMouse);
  EXPECT_EQ(p[0].events,
            (std::vector<EvdevEvent>{
                {EV_ABS, ABS_X, kSurfaceMaxX}, {EV_ABS, ABS_Y, kSurfaceMaxY / 2}, kSyn}));

  std::vector<UinputAction> release;
  m.releaseAll(release);
  ASSERT_EQ(release.size(), 1u);
  EXPECT_EQ(release[0].events, (std::vector<EvdevEvent>{{EV_KEY, BTN_SIDE, 0}, kSyn}));
}

TEST(UinputMapper, PadCreatedOnMaskBitWritesOnlyChangesAndInvertsY) {
  UinputMapper m;
  abi::InputEvent s = padState(2, 0b100, abi::kPadA | abi::kPadUp | abi::kPadRight);
  s.pad.left_x = 1000;
  s.pad.left_y = 2000;  // up in GameStream
  s.pad.right_y = -32768;
  s.pad.left_trigger = 255;
  auto a = mapOk(m, s);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0], (UinputAction{Op::kCreate, padDevice(2), {}}));
  EXPECT_EQ(a[1].device, padDevice(2));
  const auto& ev = a[1].events;
  EXPECT_EQ(valueOf(ev, EV_KEY, BTN_SOUTH), 1);
  EXPECT_EQ(valueOf(ev, EV_ABS, ABS_X), 1000);
  EXPECT_EQ(valueOf(ev, EV_ABS, ABS_Y), -2000);
  EXPECT_EQ(valueOf(ev, EV_ABS, ABS_RY), 32767);
  EXPECT_EQ(valueOf(ev, EV_ABS, ABS_Z), 255);
  EXPECT_EQ(valueOf(ev, EV_ABS, ABS_RZ), -999);  // unchanged: not written
  EXPECT_EQ(valueOf(ev, EV_ABS, ABS_HAT0X), 1);
  EXPECT_EQ(valueOf(ev, EV_ABS, ABS_HAT0Y), -1);
  EXPECT_EQ(ev.back(), kSyn);
  EXPECT_TRUE(m.padPresent(2));

  // The same state again writes nothing; one change writes that one.
  EXPECT_TRUE(mapOk(m, s).empty());
  s.pad.buttons = abi::kPadUp | abi::kPadRight;
  auto b = mapOk(m, s);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].events, (std::vector<EvdevEvent>{{EV_KEY, BTN_SOUTH, 0}, kSyn}));

  // Its bit clears: removed.
  auto c = mapOk(m, padState(2, 0b001));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0], (UinputAction{Op::kDestroy, padDevice(2), {}}));
  EXPECT_FALSE(m.padPresent(2));
  EXPECT_TRUE(mapOk(m, padState(2, 0)).empty());  // removed already
}

TEST(UinputMapper, PadArrivalAndRemoval) {
  UinputMapper m;
  abi::InputEvent arrival = event(abi::InputKind::kPadArrival);
  arrival.index = 5;
  arrival.pad_arrival.type = static_cast<uint8_t>(abi::PadType::kXbox);
  EXPECT_EQ(mapOk(m, arrival), (std::vector<UinputAction>{{Op::kCreate, padDevice(5), {}}}));
  EXPECT_TRUE(mapOk(m, arrival).empty());
  abi::InputEvent removed = event(abi::InputKind::kPadRemoved);
  removed.index = 5;
  EXPECT_EQ(mapOk(m, removed), (std::vector<UinputAction>{{Op::kDestroy, padDevice(5), {}}}));
  EXPECT_TRUE(mapOk(m, removed).empty());  // an absent pad's removal
}

TEST(UinputMapper, PadCannotNegateIntoOverflow) {
  abi::InputPad p{};
  p.left_y = -32768;
  p.right_y = 32767;
  const PadValues v = padValues(p);
  EXPECT_EQ(v.y, 32767);
  EXPECT_EQ(v.ry, -32767);
  p.buttons = abi::kPadLeft | abi::kPadRight | abi::kPadDown;
  EXPECT_EQ(padValues(p).hat_x, 0);
  EXPECT_EQ(padValues(p).hat_y, 1);
}

TEST(UinputMapper, TouchSlotsTrackingIdsAndCancelAll) {
  UinputMapper m;
  auto a = mapOk(m, touch(abi::ContactEvent::kDown, 77, 0.5f, 0.25f));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].device, VirtualDevice::kTouchScreen);
  EXPECT_EQ(valueOf(a[0].events, EV_ABS, ABS_MT_SLOT), 0);
  EXPECT_EQ(valueOf(a[0].events, EV_ABS, ABS_MT_TRACKING_ID), 0);
  EXPECT_EQ(valueOf(a[0].events, EV_ABS, ABS_MT_POSITION_X), kSurfaceMaxX / 2);
  EXPECT_EQ(valueOf(a[0].events, EV_ABS, ABS_MT_POSITION_Y), kSurfaceMaxY / 4);
  EXPECT_EQ(valueOf(a[0].events, EV_ABS, ABS_MT_PRESSURE), kTouchPressureMax / 2);
  EXPECT_EQ(valueOf(a[0].events, EV_ABS, ABS_MT_ORIENTATION), -999);  // rotation unknown
  EXPECT_EQ(valueOf(a[0].events, EV_KEY, BTN_TOUCH), 1);
  EXPECT_EQ(valueOf(a[0].events, EV_ABS, ABS_X), kSurfaceMaxX / 2);

  abi::InputEvent second = touch(abi::ContactEvent::kDown, 5, 1.0f, 1.0f);
  second.touch.rotation = 135;
  auto b = mapOk(m, second);
  EXPECT_EQ(valueOf(b[0].events, EV_ABS, ABS_MT_SLOT), 1);
  EXPECT_EQ(valueOf(b[0].events, EV_ABS, ABS_MT_TRACKING_ID), 1);
  EXPECT_EQ(valueOf(b[0].events, EV_ABS, ABS_MT_ORIENTATION), -45);
  EXPECT_EQ(valueOf(b[0].events, EV_ABS, ABS_X), kSurfaceMaxX / 2);  // still the oldest
  EXPECT_EQ(m.contactsDown(), 2u);

  // A move keeps slot and tracking id.
  auto c = mapOk(m, touch(abi::ContactEvent::kMove, 5, 0.0f, 0.0f));
  EXPECT_EQ(valueOf(c[0].events, EV_ABS, ABS_MT_SLOT), 1);
  EXPECT_EQ(valueOf(c[0].events, EV_ABS, ABS_MT_TRACKING_ID), -999);
  EXPECT_EQ(valueOf(c[0].events, EV_ABS, ABS_MT_POSITION_X), 0);

  // The first one lifts: its slot ends, the emulation follows the other.
  auto d = mapOk(m, touch(abi::ContactEvent::kUp, 77));
  EXPECT_EQ(d[0].events, (std::vector<EvdevEvent>{{EV_ABS, ABS_MT_SLOT, 0},
                                                  {EV_ABS, ABS_MT_TRACKING_ID, -1},
                                                  {EV_KEY, BTN_TOUCH, 1},
                                                  {EV_ABS, ABS_X, 0},
                                                  {EV_ABS, ABS_Y, 0},
                                                  kSyn}));
  // The next contact takes the free slot 0 with a new tracking id.
  auto e = mapOk(m, touch(abi::ContactEvent::kDown, 78, 0.1f, 0.1f));
  EXPECT_EQ(valueOf(e[0].events, EV_ABS, ABS_MT_SLOT), 0);
  EXPECT_EQ(valueOf(e[0].events, EV_ABS, ABS_MT_TRACKING_ID), 2);

  auto f = mapOk(m, touch(abi::ContactEvent::kCancelAll, 0));
  EXPECT_EQ(valueOf(f[0].events, EV_KEY, BTN_TOUCH), 0);
  EXPECT_EQ(std::count(f[0].events.begin(), f[0].events.end(),
                       EvdevEvent{EV_ABS, ABS_MT_TRACKING_ID, -1}),
            2);
  EXPECT_EQ(m.contactsDown(), 0u);
  EXPECT_TRUE(mapOk(m, touch(abi::ContactEvent::kCancelAll, 0)).empty());
  EXPECT_TRUE(mapOk(m, touch(abi::ContactEvent::kUp, 1234)).empty());
}

TEST(UinputMapper, TouchRefusesAnEleventhContact) {
  UinputMapper m;
  for (uint32_t i = 0; i < kTouchSlots; ++i)
    mapOk(m, touch(abi::ContactEvent::kDown, i, 0.5f, 0.5f));
  mapFails(m, touch(abi::ContactEvent::kDown, 100, 0.5f, 0.5f));
  mapOk(m, touch(abi::ContactEvent::kCancel, 3));
  auto a = mapOk(m, touch(abi::ContactEvent::kDown, 100, 0.5f, 0.5f));
  EXPECT_EQ(valueOf(a[0].events, EV_ABS, ABS_MT_SLOT), 3);
}

TEST(UinputMapper, PenHoverTouchButtonsToolAndTilt) {
  UinputMapper m;
  auto hover = mapOk(m, pen(abi::ContactEvent::kHover, 0.5f, 0.5f, 0.25f));
  ASSERT_EQ(hover.size(), 1u);
  EXPECT_EQ(hover[0].device, VirtualDevice::kPen);
  EXPECT_EQ(valueOf(hover[0].events, EV_KEY, BTN_TOOL_PEN), 1);
  EXPECT_EQ(valueOf(hover[0].events, EV_ABS, ABS_DISTANCE), kPenDistanceMax / 4);
  EXPECT_EQ(valueOf(hover[0].events, EV_KEY, BTN_TOUCH), -999);

  abi::InputEvent down = pen(abi::ContactEvent::kDown, 0.5f, 0.5f, 1.0f);
  down.pen.buttons = abi::kPenButtonPrimary;
  down.pen.tilt = 45;
  down.pen.rotation = 90;  // leaning to the right
  auto d = mapOk(m, down);
  EXPECT_EQ(valueOf(d[0].events, EV_KEY, BTN_TOOL_PEN), -999);  // in proximity already
  EXPECT_EQ(valueOf(d[0].events, EV_KEY, BTN_TOUCH), 1);
  EXPECT_EQ(valueOf(d[0].events, EV_ABS, ABS_PRESSURE), kPenPressureMax);
  EXPECT_EQ(valueOf(d[0].events, EV_KEY, BTN_STYLUS), 1);
  EXPECT_EQ(valueOf(d[0].events, EV_ABS, ABS_TILT_X), 45);
  EXPECT_EQ(valueOf(d[0].events, EV_ABS, ABS_TILT_Y), 0);

  abi::InputEvent up = pen(abi::ContactEvent::kUp, 0.5f, 0.5f, 0.0f);
  auto u = mapOk(m, up);
  EXPECT_EQ(valueOf(u[0].events, EV_KEY, BTN_TOUCH), 0);
  EXPECT_EQ(valueOf(u[0].events, EV_KEY, BTN_STYLUS), 0);

  // The eraser: the pen leaves proximity in a frame of its own first.
  auto e = mapOk(m, pen(abi::ContactEvent::kHover, 0.5f, 0.5f, 0.0f, abi::kPenToolEraser));
  const auto& ev = e[0].events;
  const auto penOut = std::find(ev.begin(), ev.end(), EvdevEvent{EV_KEY, BTN_TOOL_PEN, 0});
  const auto rubberIn = std::find(ev.begin(), ev.end(), EvdevEvent{EV_KEY, BTN_TOOL_RUBBER, 1});
  ASSERT_NE(penOut, ev.end());
  ASSERT_NE(rubberIn, ev.end());
  EXPECT_NE(std::find(penOut, rubberIn, kSyn), rubberIn);

  auto leave = mapOk(m, pen(abi::ContactEvent::kHoverLeave, 0, 0, 0));
  EXPECT_EQ(leave[0].events, (std::vector<EvdevEvent>{{EV_KEY, BTN_TOOL_RUBBER, 0}, kSyn}));
  EXPECT_TRUE(mapOk(m, pen(abi::ContactEvent::kCancelAll, 0, 0, 0)).empty());
}

TEST(UinputMapper, ReleaseAllLiftsEverythingAndRemovesPads) {
  UinputMapper m;
  mapOk(m, key(abi::InputKind::kKeyDown, 0x10));
  mapOk(m, key(abi::InputKind::kKeyDown, 0x41));
  mapOk(m, padState(0, 1, abi::kPadB));
  mapOk(m, padState(15, 0x8000));
  mapOk(m, touch(abi::ContactEvent::kDown, 1, 0.5f, 0.5f));
  mapOk(m, pen(abi::ContactEvent::kDown, 0.5f, 0.5f, 0.5f));
  std::vector<UinputAction> out;
  m.releaseAll(out);
  std::vector<UinputAction> expectKeyboard = {
      {Op::kWrite,
       VirtualDevice::kKeyboard,
       {{EV_KEY, KEY_A, 0}, {EV_KEY, KEY_LEFTSHIFT, 0}, kSyn}}};
  // KEY_A (30) < KEY_LEFTSHIFT (42): lifted in code order.
  ASSERT_GE(out.size(), 5u);
  EXPECT_EQ(out[0], expectKeyboard[0]);
  EXPECT_EQ(out[1].device, VirtualDevice::kTouchScreen);
  EXPECT_EQ(valueOf(out[1].events, EV_KEY, BTN_TOUCH), 0);
  EXPECT_EQ(out[2].device, VirtualDevice::kPen);
  EXPECT_EQ(valueOf(out[2].events, EV_KEY, BTN_TOUCH), 0);
  EXPECT_EQ(valueOf(out[2].events, EV_KEY, BTN_TOOL_PEN), 0);
  EXPECT_EQ(out[3], (UinputAction{Op::kDestroy, padDevice(0), {}}));
  EXPECT_EQ(out[4], (UinputAction{Op::kDestroy, padDevice(15), {}}));
  EXPECT_EQ(out.size(), 5u);
  EXPECT_FALSE(m.keyDown(KEY_A));
  // Nothing left to release.
  out.clear();
  m.releaseAll(out);
  EXPECT_TRUE(out.empty());
}

TEST(UinputMapper, ForgetStartsADeviceAfresh) {
  UinputMapper m;
  mapOk(m, padState(1, 2));
  m.forget(padDevice(1));
  EXPECT_FALSE(m.padPresent(1));
  auto again = mapOk(m, padState(1, 2));
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again[0].op, Op::kCreate);
}

}  // namespace
}  // namespace funkhaus::input
