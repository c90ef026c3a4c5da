// Input-ring events -> uinput actions (see uinput_mapping.h).
#include "funkhaus/input/uinput_mapping.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <linux/input.h>

namespace funkhaus::input {

namespace {

using Op = UinputAction::Op;

constexpr std::array<uint16_t, 256> makeVkTable() {
  std::array<uint16_t, 256> t{};
  t[0x08] = KEY_BACKSPACE;
  t[0x09] = KEY_TAB;
  t[0x0D] = KEY_ENTER;
  t[0x10] = KEY_LEFTSHIFT;
  t[0x11] = KEY_LEFTCTRL;
  t[0x12] = KEY_LEFTALT;
  t[0x13] = KEY_PAUSE;
  t[0x14] = KEY_CAPSLOCK;
  t[0x1B] = KEY_ESC;
  t[0x20] = KEY_SPACE;
  t[0x21] = KEY_PAGEUP;
  t[0x22] = KEY_PAGEDOWN;
  t[0x23] = KEY_END;
  t[0x24] = KEY_HOME;
  t[0x25] = KEY_LEFT;
  t[0x26] = KEY_UP;
  t[0x27] = KEY_RIGHT;
  t[0x28] = KEY_DOWN;
  t[0x2C] = KEY_SYSRQ;
  t[0x2D] = KEY_INSERT;
  t[0x2E] = KEY_DELETE;
  // Digits and letters: KEY_* codes follow the keyboard's rows, not the alphabet.
  constexpr uint16_t digits[] = {KEY_0, KEY_1, KEY_2, KEY_3, KEY_4,
                                 KEY_5, KEY_6, KEY_7, KEY_8, KEY_9};
  for (int i = 0; i < 10; ++i) t[0x30 + i] = digits[i];
  constexpr uint16_t letters[] = {KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I,
                                  KEY_J, KEY_K, KEY_L, KEY_M, KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R,
                                  KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z};
  for (int i = 0; i < 26; ++i) t[0x41 + i] = letters[i];
  t[0x5B] = KEY_LEFTMETA;
  t[0x5C] = KEY_RIGHTMETA;
  t[0x5D] = KEY_COMPOSE;
  constexpr uint16_t keypad[] = {KEY_KP0, KEY_KP1, KEY_KP2, KEY_KP3, KEY_KP4,
                                 KEY_KP5, KEY_KP6, KEY_KP7, KEY_KP8, KEY_KP9};
  for (int i = 0; i < 10; ++i) t[0x60 + i] = keypad[i];
  t[0x6A] = KEY_KPASTERISK;
  t[0x6B] = KEY_KPPLUS;
  t[0x6D] = KEY_KPMINUS;
  t[0x6E] = KEY_KPDOT;
  t[0x6F] = KEY_KPSLASH;
  constexpr uint16_t function[] = {KEY_F1,  KEY_F2,  KEY_F3,  KEY_F4,  KEY_F5,  KEY_F6,
                                   KEY_F7,  KEY_F8,  KEY_F9,  KEY_F10, KEY_F11, KEY_F12,
                                   KEY_F13, KEY_F14, KEY_F15, KEY_F16, KEY_F17, KEY_F18,
                                   KEY_F19, KEY_F20, KEY_F21, KEY_F22, KEY_F23, KEY_F24};
  for (int i = 0; i < 24; ++i) t[0x70 + i] = function[i];
  t[0x90] = KEY_NUMLOCK;
  t[0x91] = KEY_SCROLLLOCK;
  t[0xA0] = KEY_LEFTSHIFT;
  t[0xA1] = KEY_RIGHTSHIFT;
  t[0xA2] = KEY_LEFTCTRL;
  t[0xA3] = KEY_RIGHTCTRL;
  t[0xA4] = KEY_LEFTALT;
  t[0xA5] = KEY_RIGHTALT;
  t[0xBA] = KEY_SEMICOLON;
  t[0xBB] = KEY_EQUAL;
  t[0xBC] = KEY_COMMA;
  t[0xBD] = KEY_MINUS;
  t[0xBE] = KEY_DOT;
  t[0xBF] = KEY_SLASH;
  t[0xC0] = KEY_GRAVE;
  t[0xDB] = KEY_LEFTBRACE;
  t[0xDC] = KEY_BACKSLASH;
  t[0xDD] = KEY_RIGHTBRACE;
  t[0xDE] = KEY_APOSTROPHE;
  t[0xE2] = KEY_102ND;
  return t;
}
constexpr std::array<uint16_t, 256> kVkTable = makeVkTable();

// GameStream pad bits with a button of their own on the evdev pad (the d-pad is the hat; the
// paddles, touchpad click and misc have none on an Xbox 360 pad).
struct PadButton {
  uint32_t bit;
  uint16_t code;
};
constexpr PadButton kPadButtons[] = {
    {abi::kPadA, BTN_SOUTH},           {abi::kPadB, BTN_EAST},
    {abi::kPadX, BTN_NORTH},           {abi::kPadY, BTN_WEST},
    {abi::kPadLeftShoulder, BTN_TL},   {abi::kPadRightShoulder, BTN_TR},
    {abi::kPadBack, BTN_SELECT},       {abi::kPadStart, BTN_START},
    {abi::kPadGuide, BTN_MODE},        {abi::kPadLeftStick, BTN_THUMBL},
    {abi::kPadRightStick, BTN_THUMBR},
};
constexpr uint32_t kPadButtonMask = [] {
  uint32_t mask = 0;
  for (const PadButton& b : kPadButtons) mask |= b.bit;
  return mask;
}();

constexpr EvdevEvent syn() { return {EV_SYN, SYN_REPORT, 0}; }

bool unit(float v) { return std::isfinite(v) && v >= 0.0f && v <= 1.0f; }
bool validRotation(uint16_t rotation) {
  return rotation < 360 || rotation == abi::kRotationUnknown;
}
int32_t scale(float v, int32_t max) {
  return static_cast<int32_t>(std::lround(static_cast<double>(v) * max));
}

void writeTo(VirtualDevice device, std::vector<EvdevEvent> events, std::vector<UinputAction>& out) {
  if (events.empty()) return;
  out.push_back({Op::kWrite, device, std::move(events)});
}

// GameStream's rotation (degrees clockwise from up, 0..359) as ABS_MT_ORIENTATION: the ellipse's
// major axis from the Y axis, -90..90 (an ellipse turned by 180 degrees is the same ellipse).
int32_t orientation(uint16_t rotation) {
  int32_t r = rotation % 180;
  return r > 90 ? r - 180 : r;
}

}  // namespace

uint16_t keyForVk(uint32_t vk) { return vk < kVkTable.size() ? kVkTable[vk] : 0; }

uint16_t buttonForMouse(uint32_t button) {
  switch (button) {
    case 1:
      return BTN_LEFT;
    case 2:
      return BTN_MIDDLE;
    case 3:
      return BTN_RIGHT;
    case 4:
      return BTN_SIDE;
    case 5:
      return BTN_EXTRA;
    default:
      return 0;
  }
}

PadValues padValues(const abi::InputPad& pad) {
  PadValues v;
  v.buttons = pad.buttons & kPadButtonMask;
  v.x = pad.left_x;
  v.rx = pad.right_x;
  // evdev's Y grows downwards; -(-32768) does not fit, so it is clamped to 32767.
  v.y = std::min(-static_cast<int32_t>(pad.left_y), kPadStickMax);
  v.ry = std::min(-static_cast<int32_t>(pad.right_y), kPadStickMax);
  v.z = pad.left_trigger;
  v.rz = pad.right_trigger;
  v.hat_x = ((pad.buttons & abi::kPadRight) ? 1 : 0) - ((pad.buttons & abi::kPadLeft) ? 1 : 0);
  v.hat_y = ((pad.buttons & abi::kPadDown) ? 1 : 0) - ((pad.buttons & abi::kPadUp) ? 1 : 0);
  return v;
}

void padDifference(const PadValues& before, const PadValues& after, std::vector<EvdevEvent>& out) {
  for (const PadButton& b : kPadButtons)
    if ((before.buttons & b.bit) != (after.buttons & b.bit))
      out.push_back({EV_KEY, b.code, (after.buttons & b.bit) ? 1 : 0});
  const auto axis = [&out](uint16_t code, int32_t from, int32_t to) {
    if (from != to) out.push_back({EV_ABS, code, to});
  };
  axis(ABS_X, before.x, after.x);
  axis(ABS_Y, before.y, after.y);
  axis(ABS_RX, before.rx, after.rx);
  axis(ABS_RY, before.ry, after.ry);
  axis(ABS_Z, before.z, after.z);
  axis(ABS_RZ, before.rz, after.rz);
  axis(ABS_HAT0X, before.hat_x, after.hat_x);
  axis(ABS_HAT0Y, before.hat_y, after.hat_y);
}

Result<void> UinputMapper::map(const abi::InputEvent& event, std::vector<UinputAction>& out) {
  if (event.kind == 0 || event.kind > abi::kMaxInputKind)
    return makeError("input kind {} unknown", event.kind);
  switch (static_cast<abi::InputKind>(event.kind)) {
    case abi::InputKind::kKeyDown:
    case abi::InputKind::kKeyUp:
      return mapKey(event, out);
    case abi::InputKind::kMouseMove: {
      const abi::InputPointer& p = event.pointer;
      if (p.x < -65535 || p.x > 65535 || p.y < -65535 || p.y > 65535)
        return makeError("mouse delta {},{} out of range", p.x, p.y);
      std::vector<EvdevEvent> events;
      if (p.x != 0) events.push_back({EV_REL, REL_X, p.x});
      if (p.y != 0) events.push_back({EV_REL, REL_Y, p.y});
      if (!events.empty()) events.push_back(syn());
      writeTo(VirtualDevice::kMouse, std::move(events), out);
      return {};
    }
    case abi::InputKind::kMousePosition: {
      const abi::InputPointer& p = event.pointer;
      if (p.ref_width < 1 || p.ref_height < 1 || p.ref_width > 65536 || p.ref_height > 65536)
        return makeError("mouse reference size {}x{} out of range", p.ref_width, p.ref_height);
      if (p.x < 0 || static_cast<uint32_t>(p.x) >= p.ref_width || p.y < 0 ||
          static_cast<uint32_t>(p.y) >= p.ref_height)
        return makeError("mouse position {},{} outside {}x{}", p.x, p.y, p.ref_width, p.ref_height);
      // The first and the last pixel are the ends of the axis.
      const auto to = [](int32_t v, uint32_t ref, int32_t max) {
        return ref > 1 ? static_cast<int32_t>(int64_t{v} * max / (ref - 1)) : 0;
      };
      writeTo(VirtualDevice::kAbsoluteMouse,
              {{EV_ABS, ABS_X, to(p.x, p.ref_width, kSurfaceMaxX)},
               {EV_ABS, ABS_Y, to(p.y, p.ref_height, kSurfaceMaxY)},
               syn()},
              out);
      return {};
    }
    case abi::InputKind::kButtonDown:
    case abi::InputKind::kButtonUp:
      return mapButton(event, out);
    case abi::InputKind::kScroll:
    case abi::InputKind::kHScroll:
      return mapScroll(event, out);
    case abi::InputKind::kPadState:
    case abi::InputKind::kPadArrival:
    case abi::InputKind::kPadRemoved:
      return mapPad(event, out);
    case abi::InputKind::kTouch:
      return mapTouch(event.touch, out);
    case abi::InputKind::kPen:
      return mapPen(event.pen, out);
    case abi::InputKind::kText:
      return makeError(ErrorCode::kUnsupported, "uinput cannot type text");
    case abi::InputKind::kReleaseAll:
      releaseAll(out);
      return {};
  }
  return makeError("input kind {} unknown", event.kind);
}

Result<void> UinputMapper::mapKey(const abi::InputEvent& event, std::vector<UinputAction>& out) {
  if (event.key.vk < 1 || event.key.vk > 255)
    return makeError("virtual-key code {} out of range", event.key.vk);
  const uint16_t key = keyForVk(event.key.vk);
  if (key == 0) return makeError("virtual-key code {:#x} has no Linux key", event.key.vk);
  const bool down = event.kind == static_cast<uint16_t>(abi::InputKind::kKeyDown);
  if (!down && !keys_.test(key)) return {};  // an up we never pressed: nothing to lift
  // A second down of a held key is the client's auto-repeat: evdev's value 2.
  const int32_t value = down ? (keys_.test(key) ? 2 : 1) : 0;
  keys_.set(key, down);
  writeTo(VirtualDevice::kKeyboard, {{EV_KEY, key, value}, syn()}, out);
  return {};
}

Result<void> UinputMapper::mapButton(const abi::InputEvent& event, std::vector<UinputAction>& out) {
  const uint32_t button = event.button.button;
  const uint16_t code = buttonForMouse(button);
  if (code == 0) return makeError("mouse button {} out of range", button);
  const bool down = event.kind == static_cast<uint16_t>(abi::InputKind::kButtonDown);
  const bool was = (buttons_ >> button) & 1;
  if (down == was) return {};  // already so
  buttons_ ^= 1u << button;
  writeTo(VirtualDevice::kMouse, {{EV_KEY, code, down ? 1 : 0}, syn()}, out);
  return {};
}

Result<void> UinputMapper::mapScroll(const abi::InputEvent& event, std::vector<UinputAction>& out) {
  const int32_t amount = event.scroll.amount;
  if (amount < -65535 || amount > 65535) return makeError("scroll amount {} out of range", amount);
  if (amount == 0) return {};
  const bool horizontal = event.kind == static_cast<uint16_t>(abi::InputKind::kHScroll);
  // GameStream's signs are evdev's (+ = up, + = right). The high-resolution axis gets every
  // amount; the notch axis a notch per 120 of them, the remainder kept for the next event
  // (and dropped when the direction changes, as the kernel's HID driver does).
  int32_t& remainder = wheel_[horizontal ? 1 : 0];
  if ((remainder < 0) != (amount < 0)) remainder = 0;
  remainder += amount;
  const int32_t notches = remainder / kWheelNotch;
  remainder -= notches * kWheelNotch;
  std::vector<EvdevEvent> events;
  events.push_back(
      {EV_REL, static_cast<uint16_t>(horizontal ? REL_HWHEEL_HI_RES : REL_WHEEL_HI_RES), amount});
  if (notches != 0)
    events.push_back({EV_REL, static_cast<uint16_t>(horizontal ? REL_HWHEEL : REL_WHEEL), notches});
  events.push_back(syn());
  writeTo(VirtualDevice::kMouse, std::move(events), out);
  return {};
}

Result<void> UinputMapper::mapPad(const abi::InputEvent& event, std::vector<UinputAction>& out) {
  const uint32_t pad = event.index;
  if (pad >= abi::kMaxPads) return makeError("pad {} out of range", pad);
  const VirtualDevice device = padDevice(pad);
  std::optional<PadValues>& present = pads_[pad];
  switch (static_cast<abi::InputKind>(event.kind)) {
    case abi::InputKind::kPadArrival:
      if (event.pad_arrival.type > static_cast<uint8_t>(abi::PadType::kNintendo))
        return makeError("pad type {} unknown", event.pad_arrival.type);
      if (!present) {
        present = PadValues{};
        out.push_back({Op::kCreate, device, {}});
      }
      return {};
    case abi::InputKind::kPadRemoved:
      if (present) {
        present.reset();
        out.push_back({Op::kDestroy, device, {}});
      }
      return {};
    default:
      break;
  }
  const abi::InputPad& state = event.pad;
  if ((state.buttons & ~abi::kPadButtonsKnown) != 0)
    return makeError("pad buttons {:#x} unknown", state.buttons);
  // The state of pad n says whether pad n is still plugged in (its bit of active_mask); the
  // other bits are the other pads' business, told by their own states.
  if (!((state.active_mask >> pad) & 1)) {
    if (present) {
      present.reset();
      out.push_back({Op::kDestroy, device, {}});
    }
    return {};
  }
  if (!present) {
    present = PadValues{};  // a new uinput device starts with every value 0
    out.push_back({Op::kCreate, device, {}});
  }
  const PadValues next = padValues(state);
  std::vector<EvdevEvent> events;
  padDifference(*present, next, events);
  *present = next;
  if (!events.empty()) events.push_back(syn());
  writeTo(device, std::move(events), out);
  return {};
}

uint32_t UinputMapper::contactsDown() const {
  return static_cast<uint32_t>(
      std::count_if(contacts_.begin(), contacts_.end(), [](const Contact& c) { return c.active; }));
}

void UinputMapper::liftContact(uint32_t slot, std::vector<EvdevEvent>& events) {
  contacts_[slot].active = false;
  events.push_back({EV_ABS, ABS_MT_SLOT, static_cast<int32_t>(slot)});
  events.push_back({EV_ABS, ABS_MT_TRACKING_ID, -1});
}

// Single-touch emulation for those who read ABS_X/Y and BTN_TOUCH only: the oldest contact.
void UinputMapper::touchEmulation(std::vector<EvdevEvent>& events) const {
  const Contact* oldest = nullptr;
  for (const Contact& c : contacts_)
    if (c.active && (!oldest || c.since < oldest->since)) oldest = &c;
  events.push_back({EV_KEY, BTN_TOUCH, oldest ? 1 : 0});
  if (oldest) {
    events.push_back({EV_ABS, ABS_X, oldest->x});
    events.push_back({EV_ABS, ABS_Y, oldest->y});
  }
}

Result<void> UinputMapper::mapTouch(const abi::InputTouch& touch, std::vector<UinputAction>& out) {
  if (touch.event > abi::kMaxContactEvent) return makeError("touch event {} unknown", touch.event);
  const auto what = static_cast<abi::ContactEvent>(touch.event);
  std::vector<EvdevEvent> events;
  auto slotOf = [this](uint32_t pointer_id) -> std::optional<uint32_t> {
    for (uint32_t s = 0; s < kTouchSlots; ++s)
      if (contacts_[s].active && contacts_[s].pointer_id == pointer_id) return s;
    return std::nullopt;
  };
  switch (what) {
    case abi::ContactEvent::kHover:
    case abi::ContactEvent::kHoverLeave:
    case abi::ContactEvent::kButtonOnly:
      return {};  // a touch screen neither hovers nor has buttons
    case abi::ContactEvent::kCancelAll:
      for (uint32_t s = 0; s < kTouchSlots; ++s)
        if (contacts_[s].active) liftContact(s, events);
      if (events.empty()) return {};
      touchEmulation(events);
      events.push_back(syn());
      writeTo(VirtualDevice::kTouchScreen, std::move(events), out);
      return {};
    case abi::ContactEvent::kUp:
    case abi::ContactEvent::kCancel: {
      // evdev has no "cancelled" for a touch screen contact: it is lifted either way.
      const auto slot = slotOf(touch.pointer_id);
      if (!slot) return {};  // an up we never put down
      liftContact(*slot, events);
      touchEmulation(events);
      events.push_back(syn());
      writeTo(VirtualDevice::kTouchScreen, std::move(events), out);
      return {};
    }
    case abi::ContactEvent::kDown:
    case abi::ContactEvent::kMove:
      break;
  }
  if (!unit(touch.x) || !unit(touch.y) || !unit(touch.pressure) || !unit(touch.major) ||
      !unit(touch.minor))
    return makeError("touch values ({}, {}, pressure {}, size {} x {}) outside 0..1", touch.x,
                     touch.y, touch.pressure, touch.major, touch.minor);
  if (!validRotation(touch.rotation))
    return makeError("touch rotation {} out of range", touch.rotation);
  std::optional<uint32_t> slot = slotOf(touch.pointer_id);
  if (!slot) {
    if (what == abi::ContactEvent::kMove)
      return makeError("touch move of contact {} that is not down", touch.pointer_id);
    for (uint32_t s = 0; s < kTouchSlots && !slot; ++s)
      if (!contacts_[s].active) slot = s;
    if (!slot) return makeError("touch: all {} slots are in use", kTouchSlots);
  }
  Contact& c = contacts_[*slot];
  events.push_back({EV_ABS, ABS_MT_SLOT, static_cast<int32_t>(*slot)});
  if (!c.active) {
    c.active = true;
    c.pointer_id = touch.pointer_id;
    c.tracking_id = next_tracking_id_;
    c.since = next_since_++;
    next_tracking_id_ = (next_tracking_id_ + 1) & 0xFFFF;
    events.push_back({EV_ABS, ABS_MT_TRACKING_ID, c.tracking_id});
  }
  c.x = scale(touch.x, kSurfaceMaxX);
  c.y = scale(touch.y, kSurfaceMaxY);
  events.push_back({EV_ABS, ABS_MT_POSITION_X, c.x});
  events.push_back({EV_ABS, ABS_MT_POSITION_Y, c.y});
  events.push_back({EV_ABS, ABS_MT_PRESSURE, scale(touch.pressure, kTouchPressureMax)});
  // The contact's size is given as a fraction of the video area: both axes in X units.
  events.push_back({EV_ABS, ABS_MT_TOUCH_MAJOR, scale(touch.major, kSurfaceMaxX)});
  events.push_back({EV_ABS, ABS_MT_TOUCH_MINOR, scale(touch.minor, kSurfaceMaxX)});
  if (touch.rotation != abi::kRotationUnknown)
    events.push_back({EV_ABS, ABS_MT_ORIENTATION, orientation(touch.rotation)});
  touchEmulation(events);
  events.push_back(syn());
  writeTo(VirtualDevice::kTouchScreen, std::move(events), out);
  return {};
}

// Out of proximity: lifted, buttons up, no tool.
void UinputMapper::penLeave(std::vector<EvdevEvent>& events) {
  if (pen_.touching) {
    events.push_back({EV_KEY, BTN_TOUCH, 0});
    events.push_back({EV_ABS, ABS_PRESSURE, 0});
    pen_.touching = false;
  }
  constexpr std::pair<uint8_t, uint16_t> buttons[] = {{abi::kPenButtonPrimary, BTN_STYLUS},
                                                      {abi::kPenButtonSecondary, BTN_STYLUS2},
                                                      {abi::kPenButtonTertiary, BTN_STYLUS3}};
  for (auto [bit, code] : buttons)
    if (pen_.buttons & bit) events.push_back({EV_KEY, code, 0});
  pen_.buttons = 0;
  if (pen_.tool != 0) {
    events.push_back({EV_KEY, pen_.tool, 0});
    pen_.tool = 0;
  }
  if (!events.empty()) events.push_back(syn());
}

Result<void> UinputMapper::mapPen(const abi::InputPen& pen, std::vector<UinputAction>& out) {
  if (pen.event > abi::kMaxContactEvent) return makeError("pen event {} unknown", pen.event);
  if (pen.tool > abi::kPenToolEraser) return makeError("pen tool {} unknown", pen.tool);
  constexpr uint8_t kButtons =
      abi::kPenButtonPrimary | abi::kPenButtonSecondary | abi::kPenButtonTertiary;
  if ((pen.buttons & ~kButtons) != 0) return makeError("pen buttons {:#x} unknown", pen.buttons);
  if (pen.tilt > 90 && pen.tilt != abi::kTiltUnknown)
    return makeError("pen tilt {} out of range", pen.tilt);
  if (!validRotation(pen.rotation)) return makeError("pen rotation {} out of range", pen.rotation);
  const auto what = static_cast<abi::ContactEvent>(pen.event);
  std::vector<EvdevEvent> events;
  if (what == abi::ContactEvent::kCancel || what == abi::ContactEvent::kCancelAll ||
      what == abi::ContactEvent::kHoverLeave) {
    penLeave(events);
    writeTo(VirtualDevice::kPen, std::move(events), out);
    return {};
  }
  if (!unit(pen.x) || !unit(pen.y) || !unit(pen.pressure))
    return makeError("pen values ({}, {}, pressure {}) outside 0..1", pen.x, pen.y, pen.pressure);

  // Tool 0 (the client does not know) is a pen. A change of tool leaves proximity first, in a
  // frame of its own, as a real tablet does.
  const uint16_t tool = pen.tool == abi::kPenToolEraser ? BTN_TOOL_RUBBER : BTN_TOOL_PEN;
  if (pen_.tool != 0 && pen_.tool != tool) penLeave(events);
  if (pen_.tool == 0) {
    events.push_back({EV_KEY, tool, 1});
    pen_.tool = tool;
  }
  events.push_back({EV_ABS, ABS_X, scale(pen.x, kSurfaceMaxX)});
  events.push_back({EV_ABS, ABS_Y, scale(pen.y, kSurfaceMaxY)});

  bool touching = pen_.touching;
  if (what == abi::ContactEvent::kDown) touching = true;
  if (what == abi::ContactEvent::kUp || what == abi::ContactEvent::kHover) touching = false;
  if (what != abi::ContactEvent::kButtonOnly) {
    // While touching `pressure` is the pressure, while hovering the distance.
    if (touching) {
      events.push_back({EV_ABS, ABS_DISTANCE, 0});
      events.push_back({EV_ABS, ABS_PRESSURE, scale(pen.pressure, kPenPressureMax)});
    } else {
      events.push_back({EV_ABS, ABS_PRESSURE, 0});
      events.push_back({EV_ABS, ABS_DISTANCE, scale(pen.pressure, kPenDistanceMax)});
    }
  }
  if (touching != pen_.touching) {
    events.push_back({EV_KEY, BTN_TOUCH, touching ? 1 : 0});
    pen_.touching = touching;
  }
  if (pen.tilt != abi::kTiltUnknown && (pen.rotation != abi::kRotationUnknown || pen.tilt == 0)) {
    // The pen leans `tilt` degrees from upright towards `rotation` (clockwise from up): as
    // tilt angles in the XZ and YZ planes (evdev: + = towards +X, towards +Y = down).
    constexpr double kDeg = std::numbers::pi / 180.0;
    const double t = pen.tilt * kDeg;
    const double r = (pen.rotation == abi::kRotationUnknown ? 0 : pen.rotation) * kDeg;
    const double dx = std::sin(t) * std::sin(r), dy = -std::sin(t) * std::cos(r);
    const double dz = std::cos(t);
    const auto degrees = [](double a) {
      return static_cast<int32_t>(
          std::clamp<long>(std::lround(a / kDeg), -kPenTiltMax, kPenTiltMax));
    };
    events.push_back({EV_ABS, ABS_TILT_X, degrees(std::atan2(dx, dz))});
    events.push_back({EV_ABS, ABS_TILT_Y, degrees(std::atan2(dy, dz))});
  }
  constexpr std::pair<uint8_t, uint16_t> buttons[] = {{abi::kPenButtonPrimary, BTN_STYLUS},
                                                      {abi::kPenButtonSecondary, BTN_STYLUS2},
                                                      {abi::kPenButtonTertiary, BTN_STYLUS3}};
  for (auto [bit, code] : buttons)
    if ((pen_.buttons ^ pen.buttons) & bit)
      events.push_back({EV_KEY, code, (pen.buttons & bit) ? 1 : 0});
  pen_.buttons = pen.buttons;
  events.push_back(syn());
  writeTo(VirtualDevice::kPen, std::move(events), out);
  return {};
}

void UinputMapper::releaseAll(std::vector<UinputAction>& out) {
  std::vector<EvdevEvent> keys;
  for (size_t k = 0; k < keys_.size(); ++k)
    if (keys_.test(k)) keys.push_back({EV_KEY, static_cast<uint16_t>(k), 0});
  keys_.reset();
  if (!keys.empty()) keys.push_back(syn());
  writeTo(VirtualDevice::kKeyboard, std::move(keys), out);

  std::vector<EvdevEvent> buttons;
  for (uint32_t b = 1; b <= abi::kMaxMouseButton; ++b)
    if ((buttons_ >> b) & 1) buttons.push_back({EV_KEY, buttonForMouse(b), 0});
  buttons_ = 0;
  wheel_ = {};
  if (!buttons.empty()) buttons.push_back(syn());
  writeTo(VirtualDevice::kMouse, std::move(buttons), out);

  std::vector<EvdevEvent> touch;
  for (uint32_t s = 0; s < kTouchSlots; ++s)
    if (contacts_[s].active) liftContact(s, touch);
  if (!touch.empty()) {
    touchEmulation(touch);
    touch.push_back(syn());
  }
  writeTo(VirtualDevice::kTouchScreen, std::move(touch), out);

  std::vector<EvdevEvent> pen;
  penLeave(pen);
  writeTo(VirtualDevice::kPen, std::move(pen), out);

  for (uint32_t p = 0; p < abi::kMaxPads; ++p)
    if (pads_[p]) {
      pads_[p].reset();
      out.push_back({Op::kDestroy, padDevice(p), {}});
    }
}

void UinputMapper::forget(VirtualDevice device) {
  if (isPad(device)) {
    pads_[static_cast<uint32_t>(device)].reset();
    return;
  }
  switch (device) {
    case VirtualDevice::kKeyboard:
      keys_.reset();
      break;
    case VirtualDevice::kMouse:
      buttons_ = 0;
      wheel_ = {};
      break;
    case VirtualDevice::kTouchScreen:
      for (Contact& c : contacts_) c.active = false;
      break;
    case VirtualDevice::kPen:
      pen_ = {};
      break;
    default:
      break;
  }
}

}  // namespace funkhaus::input
