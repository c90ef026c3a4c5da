// GameStream input packets: bounds-checked decoding into input ring events (gamestream.md §8).
#include "funkhaus/net/gamestream/input_packet.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "funkhaus/common/byte_order.h"
#include "funkhaus/common/input_ring.h"

namespace funkhaus::net::gamestream {
namespace {

using abi::InputEvent;
using abi::InputKind;

constexpr size_t kHeaderSize = 8;  // BE32 size, LE32 magic

struct Body {
  const uint8_t* p;
  size_t size;
  uint8_t u8(size_t at) const { return p[at]; }
  uint16_t le16(size_t at) const { return bytes::le16(p + at); }
  int16_t sle16(size_t at) const { return static_cast<int16_t>(bytes::le16(p + at)); }
  int16_t sbe16(size_t at) const { return static_cast<int16_t>(bytes::be16(p + at)); }
  uint32_t le32(size_t at) const { return bytes::le32(p + at); }
  float f32(size_t at) const { return std::bit_cast<float>(bytes::le32(p + at)); }
};

// The client's structure size (after the magic) for each magic; 0 = not a magic we know.
size_t minimumBody(uint32_t magic) {
  switch (magic) {
    case kInputKeyDown:
    case kInputKeyUp:
      return 6;  // u8 flags, LE16 keyCode, u8 modifiers, 2 zero
    case kInputMousePosition:
      return 10;  // BE16 x, y, unused, width - 1, height - 1
    case kInputMouseMove:
      return 4;  // BE16 dx, dy
    case kInputButtonDown:
    case kInputButtonUp:
      return 1;
    case kInputScroll:
      return 6;  // BE16 amount, the same again, 2 zero
    case kInputPad:
      return 26;
    case kInputHapticsEnable:
      return 2;
    case kInputUtf8Text:
      return 1;
    case kInputHScroll:
      return 2;
    case kInputTouch:
    case kInputPen:
      return 28;
    case kInputPadArrival:
      return 8;
    case kInputPadTouch:
      return 20;
    case kInputPadMotion:
      return 16;
    case kInputPadBattery:
      return 4;
    default:
      return 0;
  }
}

InputEvent make(InputKind kind, uint8_t index = 0) {
  InputEvent e{};
  e.kind = static_cast<uint16_t>(kind);
  e.index = index;
  return e;
}

// Text in one packet: a phrase from an on-screen keyboard, not a document.
constexpr size_t kMaxTextBytes = 256;

// One code point from exactly these 1..4 bytes, strictly (no overlong forms, no surrogates).
Result<uint32_t> decodeUtf8(const uint8_t* s, size_t n) {
  const uint8_t b0 = s[0];
  size_t length;
  uint32_t cp;
  if (b0 < 0x80) {
    length = 1, cp = b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    length = 2, cp = b0 & 0x1Fu;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, cp = b0 & 0x0Fu;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4, cp = b0 & 0x07u;
  } else {
    return makeError("UTF-8 lead byte 0x{:02x} is invalid", b0);
  }
  if (length != n) return makeError("{} UTF-8 bytes for a code point of {}", n, length);
  for (size_t i = 1; i < n; ++i) {
    if ((s[i] & 0xC0) != 0x80)
      return makeError("UTF-8 byte {} (0x{:02x}) is no continuation", i, s[i]);
    cp = cp << 6 | (s[i] & 0x3Fu);
  }
  static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kSmallest[length]) return makeError("overlong UTF-8 for U+{:04X}", cp);
  if (cp == 0) return makeError("text is NUL");
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return makeError("code point U+{:X} is not a Unicode scalar value", cp);
  return cp;
}

float clampUnit(float v) { return std::isfinite(v) ? std::clamp(v, 0.0f, 1.0f) : v; }

int32_t clampTo(int32_t v, uint32_t size) {
  return std::clamp(v, 0, static_cast<int32_t>(size) - 1);
}

bool positionless(uint8_t event) {
  const auto e = static_cast<abi::ContactEvent>(event);
  return e == abi::ContactEvent::kCancel || e == abi::ContactEvent::kCancelAll ||
         e == abi::ContactEvent::kButtonOnly;
}

Result<uint8_t> controller(uint32_t value) {
  if (value >= abi::kMaxPads)
    return makeError("controller {} is not below {}", value, abi::kMaxPads);
  return static_cast<uint8_t>(value);
}

// The events of one packet whose size and magic checked out; `events` gets at most one.
Result<void> decodeBody(uint32_t magic, const Body& b, std::vector<InputEvent>& events) {
  switch (magic) {
    case kInputKeyDown:
    case kInputKeyUp: {
      InputEvent e = make(magic == kInputKeyDown ? InputKind::kKeyDown : InputKind::kKeyUp);
      const uint16_t code = b.le16(1);
      e.key.vk = code & 0xFFu;  // clients set 0x80 in the high byte
      if (e.key.vk == 0) return makeError("key code 0x{:04x} has no virtual key", code);
      e.key.modifiers = b.u8(3) & (abi::kModifierShift | abi::kModifierCtrl | abi::kModifierAlt |
                                   abi::kModifierMeta);
      e.key.flags = b.u8(0) & abi::kKeyNotNormalised;
      events.push_back(e);
      return {};
    }
    case kInputMouseMove: {
      InputEvent e = make(InputKind::kMouseMove);
      e.pointer.x = b.sbe16(0);
      e.pointer.y = b.sbe16(2);
      if (e.pointer.x != 0 || e.pointer.y != 0) events.push_back(e);
      return {};
    }
    case kInputMousePosition: {
      const int32_t w = b.sbe16(6), h = b.sbe16(8);  // the client sends width - 1, height - 1
      if (w < 0 || h < 0)
        return makeError("reference area {}x{} is empty", int32_t{w} + 1, int32_t{h} + 1);
      InputEvent e = make(InputKind::kMousePosition);
      e.pointer.ref_width = static_cast<uint32_t>(w) + 1;
      e.pointer.ref_height = static_cast<uint32_t>(h) + 1;
      e.pointer.x = clampTo(b.sbe16(0), e.pointer.ref_width);
      e.pointer.y = clampTo(b.sbe16(2), e.pointer.ref_height);
      events.push_back(e);
      return {};
    }
    case kInputButtonDown:
    case kInputButtonUp: {
      InputEvent e =
          make(magic == kInputButtonDown ? InputKind::kButtonDown : InputKind::kButtonUp);
      e.button.button = b.u8(0);
      if (e.button.button == 0 || e.button.button > abi::kMaxMouseButton)
        return makeError("mouse button {} is not 1..{}", e.button.button, abi::kMaxMouseButton);
      events.push_back(e);
      return {};
    }
    case kInputScroll:
    case kInputHScroll: {
      InputEvent e = make(magic == kInputScroll ? InputKind::kScroll : InputKind::kHScroll);
      e.scroll.amount = b.sbe16(0);
      if (e.scroll.amount != 0) events.push_back(e);
      return {};
    }
    case kInputPad: {
      // LE16 0x1A, controller, active mask, 0x14, buttons, u8 LT, RT, LE16 LX, LY, RX, RY, 0x9C,
      // buttons2, 0x55. The marker words are not checked.
      auto index = controller(b.le16(2));
      if (!index) return index.error();
      const uint16_t active = b.le16(4);
      if ((active & (1u << *index)) == 0) {
        events.push_back(make(InputKind::kPadRemoved, *index));  // its bit cleared: unplugged
        return {};
      }
      InputEvent e = make(InputKind::kPadState, *index);
      e.pad.buttons = (uint32_t{b.le16(8)} | uint32_t{b.le16(22)} << 16) & abi::kPadButtonsKnown;
      e.pad.active_mask = active;
      e.pad.left_trigger = b.u8(10);
      e.pad.right_trigger = b.u8(11);
      e.pad.left_x = b.sle16(12);
      e.pad.left_y = b.sle16(14);
      e.pad.right_x = b.sle16(16);
      e.pad.right_y = b.sle16(18);
      events.push_back(e);
      return {};
    }
    case kInputUtf8Text: {
      // Moonlight sends a code point per packet; the protocol library takes any string
      // (LiSendUtf8TextEvent), so a packet may carry several: an event each, all or none.
      if (b.size > kMaxTextBytes)
        return makeError("{} bytes of text (at most {})", b.size, kMaxTextBytes);
      const size_t first = events.size();
      for (size_t at = 0; at < b.size;) {
        const uint8_t lead = b.p[at];
        const size_t length = lead < 0x80             ? 1
                              : (lead & 0xE0) == 0xC0 ? 2
                              : (lead & 0xF0) == 0xE0 ? 3
                                                      : 4;
        auto cp = decodeUtf8(b.p + at, std::min(length, b.size - at));
        if (!cp) {
          events.resize(first);
          return cp.error();
        }
        InputEvent e = make(InputKind::kText);
        e.text.code_point = *cp;
        events.push_back(e);
        at += length;
      }
      return {};
    }
    case kInputTouch: {
      InputEvent e = make(InputKind::kTouch);
      abi::InputTouch& t = e.touch;
      t.event = b.u8(0);
      t.pointer_id = b.le32(4);
      if (!positionless(t.event)) {
        t.rotation = b.le16(2);
        t.x = clampUnit(b.f32(8));
        t.y = clampUnit(b.f32(12));
        t.pressure = b.f32(16);
        t.major = b.f32(20);
        t.minor = b.f32(24);
      } else {
        t.rotation = abi::kRotationUnknown;  // the client fills nothing else
      }
      events.push_back(e);
      return {};
    }
    case kInputPen: {
      InputEvent e = make(InputKind::kPen);
      abi::InputPen& p = e.pen;
      p.event = b.u8(0);
      p.tool = b.u8(1);
      p.buttons = b.u8(2);
      if (!positionless(p.event)) {
        p.x = clampUnit(b.f32(4));
        p.y = clampUnit(b.f32(8));
        p.pressure = b.f32(12);
        p.rotation = b.le16(16);
        p.tilt = b.u8(18);
        p.major = b.f32(20);
        p.minor = b.f32(24);
      } else {
        p.rotation = abi::kRotationUnknown;
        p.tilt = abi::kTiltUnknown;
      }
      events.push_back(e);
      return {};
    }
    case kInputPadArrival: {
      auto index = controller(b.u8(0));
      if (!index) return index.error();
      InputEvent e = make(InputKind::kPadArrival, *index);
      const uint8_t type = b.u8(1);
      e.pad_arrival.type = type <= static_cast<uint8_t>(abi::PadType::kNintendo)
                               ? type
                               : static_cast<uint8_t>(abi::PadType::kUnknown);
      e.pad_arrival.capabilities = b.le16(2);
      e.pad_arrival.supported_buttons = b.le32(4) & abi::kPadButtonsKnown;
      events.push_back(e);
      return {};
    }
    case kInputPadTouch:
    case kInputPadMotion:
    case kInputPadBattery: {
      // Not input the session gets (no ABI event yet); checked, then dropped.
      if (auto index = controller(b.u8(0)); !index) return index.error();
      return {};
    }
    case kInputHapticsEnable:
      return {};  // sent once at the start: rumble is always on
    default:
      return makeError("unknown magic");
  }
}

}  // namespace

const char* inputMagicName(uint32_t magic) {
  switch (magic) {
    case kInputKeyDown:
      return "key down";
    case kInputKeyUp:
      return "key up";
    case kInputMousePosition:
      return "mouse position";
    case kInputMouseMove:
      return "mouse move";
    case kInputButtonDown:
      return "button down";
    case kInputButtonUp:
      return "button up";
    case kInputScroll:
      return "scroll";
    case kInputPad:
      return "gamepad";
    case kInputHapticsEnable:
      return "haptics enable";
    case kInputUtf8Text:
      return "UTF-8 text";
    case kInputHScroll:
      return "horizontal scroll";
    case kInputTouch:
      return "touch";
    case kInputPen:
      return "pen";
    case kInputPadArrival:
      return "controller arrival";
    case kInputPadTouch:
      return "controller touch";
    case kInputPadMotion:
      return "controller motion";
    case kInputPadBattery:
      return "controller battery";
    default:
      return "unknown";
  }
}

Result<size_t> decodeInputPacket(std::span<const uint8_t> payload,
                                 std::vector<abi::InputEvent>& out) {
  if (payload.size() < kHeaderSize)
    return makeError("input packet of {} bytes is shorter than its 8-byte header", payload.size());
  const uint32_t size = bytes::be32(payload.data());
  if (size != payload.size() - 4)
    return makeError("input packet: size field {} but {} bytes follow it", size,
                     payload.size() - 4);
  const uint32_t magic = bytes::le32(payload.data() + 4);
  const size_t need = minimumBody(magic);
  if (need == 0) return makeError("input packet: unknown magic 0x{:08x}", magic);
  const Body body{payload.data() + kHeaderSize, payload.size() - kHeaderSize};
  if (body.size < need)
    return makeError("input packet 0x{:08x} ({}): {} body bytes, needs {}", magic,
                     inputMagicName(magic), body.size, need);
  const size_t first = out.size();
  auto decoded = decodeBody(magic, body, out);
  for (size_t i = first; decoded && i < out.size(); ++i) decoded = checkInputEvent(out[i]);
  if (!decoded) {
    out.resize(first);
    return makeError("input packet 0x{:08x} ({}): {}", magic, inputMagicName(magic),
                     decoded.error().message);
  }
  return out.size() - first;
}

}  // namespace funkhaus::net::gamestream
