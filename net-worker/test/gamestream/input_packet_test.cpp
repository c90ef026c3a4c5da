// GameStream input packets: every magic byte-exact as moonlight-common-c lays it out (Input.h:
// BE32 size, LE32 magic, fields in their own byte order, LE floats), and what is refused.
#include "funkhaus/net/gamestream/input_packet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace funkhaus::net::gamestream {
namespace {

using abi::InputEvent;
using abi::InputKind;

using Bytes = std::vector<uint8_t>;

std::vector<InputEvent> decode(const Bytes& packet) {
  std::vector<InputEvent> out;
  auto n = decodeInputPacket(packet, out);
  EXPECT_TRUE(n.ok()) << n.error().message;
  if (n) {
    EXPECT_EQ(*n, out.size());
  }
  return out;
}

InputEvent one(const Bytes& packet) {
  auto events = decode(packet);
  EXPECT_EQ(events.size(), 1u);
  return events.empty() ? InputEvent{} : events[0];
}

std::string refused(const Bytes& packet) {
  std::vector<InputEvent> out(1);  // something there already: it must stay as it is
  auto n = decodeInputPacket(packet, out);
  EXPECT_FALSE(n.ok());
  EXPECT_EQ(out.size(), 1u);
  return n ? std::string() : n.error().message;
}

uint16_t kind(InputKind k) { return static_cast<uint16_t>(k); }

TEST(GsInputPacket, KeyDownMasksTheHighByteAndKeepsModifiers) {
  const InputEvent e = one({0x00, 0x00, 0x00, 0x0A, 0x03, 0x00, 0x00, 0x00,  // size 10, magic 3
                            0x00, 0x41, 0x80, 0x01, 0x00, 0x00});  // flags, LE16 0x8041, Shift
  EXPECT_EQ(e.kind, kind(InputKind::kKeyDown));
  EXPECT_EQ(e.key.vk, 0x41u);
  EXPECT_EQ(e.key.modifiers, abi::kModifierShift);
  EXPECT_EQ(e.key.flags, 0);
  EXPECT_EQ(e.sequence, 0u);
  EXPECT_EQ(e.received_ns, 0u);
}

TEST(GsInputPacket, KeyUpWithTheNotNormalisedFlag) {
  const InputEvent e = one({0x00, 0x00, 0x00, 0x0A, 0x04, 0x00, 0x00, 0x00,  //
                            0x01, 0xA0, 0x80, 0xF0, 0x00, 0x00});  // unknown modifier bits dropped
  EXPECT_EQ(e.kind, kind(InputKind::kKeyUp));
  EXPECT_EQ(e.key.vk, 0xA0u);
  EXPECT_EQ(e.key.flags, abi::kKeyNotNormalised);
  EXPECT_EQ(e.key.modifiers, 0);
}

TEST(GsInputPacket, RelativeMouseIsBigEndian) {
  const InputEvent e = one({0x00, 0x00, 0x00, 0x08, 0x07, 0x00, 0x00, 0x00,  //
                            0xFF, 0xFE, 0x01, 0x2C});
  EXPECT_EQ(e.kind, kind(InputKind::kMouseMove));
  EXPECT_EQ(e.pointer.x, -2);
  EXPECT_EQ(e.pointer.y, 300);
  EXPECT_TRUE(decode({0x00, 0x00, 0x00, 0x08, 0x07, 0x00, 0x00, 0x00, 0, 0, 0, 0}).empty());
}

TEST(GsInputPacket, AbsoluteMouseCarriesTheReferenceAreaMinusOne) {
  const InputEvent e = one({0x00, 0x00, 0x00, 0x0E, 0x05, 0x00, 0x00, 0x00,  //
                            0x00, 0x64, 0x00, 0x32, 0x00, 0x00, 0x07, 0x7F, 0x04, 0x37});
  EXPECT_EQ(e.kind, kind(InputKind::kMousePosition));
  EXPECT_EQ(e.pointer.x, 100);
  EXPECT_EQ(e.pointer.y, 50);
  EXPECT_EQ(e.pointer.ref_width, 1920u);
  EXPECT_EQ(e.pointer.ref_height, 1080u);
  // Off the area: clamped to its edge.
  const InputEvent edge = one({0x00, 0x00, 0x00, 0x0E, 0x05, 0x00, 0x00, 0x00,  //
                               0x07, 0x80, 0xFF, 0xFF, 0x00, 0x00, 0x07, 0x7F, 0x04, 0x37});
  EXPECT_EQ(edge.pointer.x, 1919);
  EXPECT_EQ(edge.pointer.y, 0);
  EXPECT_NE(refused({0x00, 0x00, 0x00, 0x0E, 0x05, 0x00, 0x00, 0x00,  //
                     0x00, 0x64, 0x00, 0x32, 0x00, 0x00, 0xFF, 0xFF, 0x04, 0x37})
                .find("reference area"),
            std::string::npos);
}

TEST(GsInputPacket, MouseButtons) {
  const InputEvent down = one({0x00, 0x00, 0x00, 0x05, 0x08, 0x00, 0x00, 0x00, 0x01});
  EXPECT_EQ(down.kind, kind(InputKind::kButtonDown));
  EXPECT_EQ(down.button.button, 1u);
  const InputEvent up = one({0x00, 0x00, 0x00, 0x05, 0x09, 0x00, 0x00, 0x00, 0x05});
  EXPECT_EQ(up.kind, kind(InputKind::kButtonUp));
  EXPECT_EQ(up.button.button, 5u);
  EXPECT_NE(refused({0x00, 0x00, 0x00, 0x05, 0x08, 0x00, 0x00, 0x00, 0x06}).find("mouse button 6"),
            std::string::npos);
  EXPECT_NE(refused({0x00, 0x00, 0x00, 0x05, 0x09, 0x00, 0x00, 0x00, 0x00}).find("mouse button 0"),
            std::string::npos);
}

TEST(GsInputPacket, VerticalAndHorizontalScroll) {
  const InputEvent up = one({0x00, 0x00, 0x00, 0x0A, 0x0A, 0x00, 0x00, 0x00,  //
                             0x00, 0x78, 0x00, 0x78, 0x00, 0x00});
  EXPECT_EQ(up.kind, kind(InputKind::kScroll));
  EXPECT_EQ(up.scroll.amount, 120);
  const InputEvent down = one({0x00, 0x00, 0x00, 0x0A, 0x0A, 0x00, 0x00, 0x00,  //
                               0xFF, 0x88, 0xFF, 0x88, 0x00, 0x00});
  EXPECT_EQ(down.scroll.amount, -120);
  const InputEvent left = one({0x00, 0x00, 0x00, 0x06, 0x01, 0x00, 0x00, 0x55, 0xFF, 0x10});
  EXPECT_EQ(left.kind, kind(InputKind::kHScroll));
  EXPECT_EQ(left.scroll.amount, -240);
}

const Bytes kPadPacket = {
    0x00, 0x00, 0x00, 0x1E, 0x0C, 0x00, 0x00, 0x00,  // size 30, magic 0x0C
    0x1A, 0x00,                                      // 0x001A
    0x02, 0x00,                                      // controller 2
    0x05, 0x00,                                      // active mask: pads 0 and 2
    0x14, 0x00,                                      // 0x0014
    0x01, 0x10,                                      // buttons: A | up
    0xFF, 0x80,                                      // LT 255, RT 128
    0x00, 0x80, 0xFF, 0x7F, 0x01, 0x00, 0xFE, 0xFF,  // LX -32768, LY 32767, RX 1, RY -2
    0x9C, 0x00,                                      // 0x009C
    0x01, 0x00,                                      // buttons2: paddle 1
    0x55, 0x00};                                     // 0x0055

TEST(GsInputPacket, GamepadState) {
  const InputEvent e = one(kPadPacket);
  EXPECT_EQ(e.kind, kind(InputKind::kPadState));
  EXPECT_EQ(e.index, 2);
  EXPECT_EQ(e.pad.buttons, abi::kPadA | abi::kPadUp | abi::kPadPaddle1);
  EXPECT_EQ(e.pad.active_mask, 0x5);
  EXPECT_EQ(e.pad.left_trigger, 255);
  EXPECT_EQ(e.pad.right_trigger, 128);
  EXPECT_EQ(e.pad.left_x, -32768);
  EXPECT_EQ(e.pad.left_y, 32767);
  EXPECT_EQ(e.pad.right_x, 1);
  EXPECT_EQ(e.pad.right_y, -2);
}

TEST(GsInputPacket, GamepadWithItsBitClearedIsRemoved) {
  Bytes p = kPadPacket;
  p[12] = 0x01;  // only pad 0 present
  const InputEvent e = one(p);
  EXPECT_EQ(e.kind, kind(InputKind::kPadRemoved));
  EXPECT_EQ(e.index, 2);
  p = kPadPacket;
  p[10] = 0x10;  // controller 16
  EXPECT_NE(refused(p).find("controller 16"), std::string::npos);
  p = kPadPacket;
  p[33] = 0xFF;  // buttons2 bits the ABI does not know: dropped
  EXPECT_EQ(one(p).pad.buttons & ~abi::kPadButtonsKnown, 0u);
}

TEST(GsInputPacket, HapticsEnableIsNoted) {
  EXPECT_TRUE(decode({0x00, 0x00, 0x00, 0x06, 0x0D, 0x00, 0x00, 0x00, 0x01, 0x00}).empty());
}

TEST(GsInputPacket, Utf8TextIsAnEventPerCodePoint) {
  EXPECT_EQ(one({0x00, 0x00, 0x00, 0x05, 0x17, 0x00, 0x00, 0x00, 0x61}).text.code_point, 0x61u);
  EXPECT_EQ(one({0x00, 0x00, 0x00, 0x06, 0x17, 0x00, 0x00, 0x00, 0xC3, 0xA4}).text.code_point,
            0xE4u);
  const InputEvent euro = one({0x00, 0x00, 0x00, 0x07, 0x17, 0x00, 0x00, 0x00, 0xE2, 0x82, 0xAC});
  EXPECT_EQ(euro.kind, kind(InputKind::kText));
  EXPECT_EQ(euro.text.code_point, 0x20ACu);
  EXPECT_EQ(
      one({0x00, 0x00, 0x00, 0x08, 0x17, 0x00, 0x00, 0x00, 0xF0, 0x9F, 0x98, 0x80}).text.code_point,
      0x1F600u);
  auto text = [](const Bytes& utf8) {
    Bytes p(8 + utf8.size());
    p[2] = static_cast<uint8_t>((4 + utf8.size()) >> 8);
    p[3] = static_cast<uint8_t>(4 + utf8.size());
    p[4] = 0x17;
    std::copy(utf8.begin(), utf8.end(), p.begin() + 8);
    return p;
  };
  EXPECT_NE(refused(text({0xC0, 0x80})).find("overlong"), std::string::npos);
  EXPECT_NE(refused(text({0xE0, 0x80, 0x80})).find("overlong"), std::string::npos);
  EXPECT_NE(refused(text({0xED, 0xA0, 0x80})).find("scalar"), std::string::npos);  // surrogate
  EXPECT_NE(refused(text({0xF4, 0x90, 0x80, 0x80})).find("scalar"), std::string::npos);
  EXPECT_NE(refused(text({0xE2, 0x41, 0xAC})).find("continuation"), std::string::npos);
  EXPECT_NE(refused(text({0x80})).find("lead byte"), std::string::npos);
  EXPECT_NE(refused(text({0xFF})).find("lead byte"), std::string::npos);
  EXPECT_NE(refused(text({0x00})).find("NUL"), std::string::npos);
  EXPECT_NE(refused(text({0xC3})).find("1 UTF-8 bytes"), std::string::npos);  // truncated
  // Several code points in one packet (LiSendUtf8TextEvent takes a string): an event each.
  std::vector<abi::InputEvent> several;
  const Bytes phrase = {0x00, 0x00, 0x00, 0x0A, 0x17, 0x00, 0x00,
                        0x00, 0x61, 0xC3, 0xA4, 0xE2, 0x82, 0xAC};
  ASSERT_TRUE(decodeInputPacket(phrase, several).ok());
  ASSERT_EQ(several.size(), 3u);
  EXPECT_EQ(several[0].text.code_point, 0x61u);
  EXPECT_EQ(several[1].text.code_point, 0xE4u);
  EXPECT_EQ(several[2].text.code_point, 0x20ACu);
  // One bad code point refuses the whole packet (none of it is typed).
  several.clear();
  EXPECT_NE(refused(text({0x61, 0xC0, 0x80})).find("overlong"), std::string::npos);
  EXPECT_NE(refused(text(Bytes(257, 0x61))).find("at most 256"), std::string::npos);
}

const Bytes kTouchPacket = {
    0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00, 0x55,   // size 32, magic 0x55000002
    0x01, 0x00, 0x5A, 0x00,                           // down, 0, rotation 90
    0x07, 0x00, 0x00, 0x00,                           // pointer 7
    0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x80, 0x3E,   // x 0.5, y 0.25
    0x00, 0x00, 0x80, 0x3F,                           // pressure 1.0
    0x00, 0x00, 0x00, 0x3E, 0x00, 0x00, 0x00, 0x00};  // major 0.125, minor 0

TEST(GsInputPacket, Touch) {
  const InputEvent e = one(kTouchPacket);
  EXPECT_EQ(e.kind, kind(InputKind::kTouch));
  EXPECT_EQ(e.touch.event, static_cast<uint8_t>(abi::ContactEvent::kDown));
  EXPECT_EQ(e.touch.rotation, 90);
  EXPECT_EQ(e.touch.pointer_id, 7u);
  EXPECT_EQ(e.touch.x, 0.5f);
  EXPECT_EQ(e.touch.y, 0.25f);
  EXPECT_EQ(e.touch.pressure, 1.0f);
  EXPECT_EQ(e.touch.major, 0.125f);
  EXPECT_EQ(e.touch.minor, 0.0f);

  Bytes p = kTouchPacket;
  p[19] = 0x40;  // x = 2.0: clamped to the edge
  EXPECT_EQ(one(p).touch.x, 1.0f);
  p = kTouchPacket;
  p[26] = 0xC0, p[27] = 0x7F;  // pressure NaN
  EXPECT_NE(refused(p).find("pressure"), std::string::npos);
  p = kTouchPacket;
  p[27] = 0x40;  // pressure 4.0
  EXPECT_NE(refused(p).find("pressure"), std::string::npos);
  p = kTouchPacket;
  p[19] = 0x7F, p[18] = 0xC0;  // x NaN
  EXPECT_NE(refused(p).find("position"), std::string::npos);
  p = kTouchPacket;
  p[8] = 8;  // no such event
  EXPECT_NE(refused(p).find("event 8"), std::string::npos);
  p = kTouchPacket;
  p[10] = 0x90, p[11] = 0x01;  // rotation 400
  EXPECT_NE(refused(p).find("rotation"), std::string::npos);
  p = kTouchPacket;
  p[10] = 0xFF, p[11] = 0xFF;  // rotation unknown
  EXPECT_EQ(one(p).touch.rotation, abi::kRotationUnknown);
  // A cancel carries only its pointer: the rest is not looked at.
  p = kTouchPacket;
  p[8] = static_cast<uint8_t>(abi::ContactEvent::kCancel);
  p[26] = 0xC0, p[27] = 0x7F;
  const InputEvent cancel = one(p);
  EXPECT_EQ(cancel.touch.pointer_id, 7u);
  EXPECT_EQ(cancel.touch.pressure, 0.0f);
}

const Bytes kPenPacket = {
    0x00, 0x00, 0x00, 0x20, 0x03, 0x00, 0x00, 0x55,   // size 32, magic 0x55000003
    0x03, 0x02, 0x01, 0x00,                           // move, eraser, primary button, 0
    0x00, 0x00, 0x40, 0x3F, 0x00, 0x00, 0x00, 0x3F,   // x 0.75, y 0.5
    0x00, 0x00, 0x00, 0x3F,                           // pressure 0.5
    0x67, 0x01, 0x2D, 0x00,                           // rotation 359, tilt 45, 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};  // contact area unknown

TEST(GsInputPacket, Pen) {
  const InputEvent e = one(kPenPacket);
  EXPECT_EQ(e.kind, kind(InputKind::kPen));
  EXPECT_EQ(e.pen.event, static_cast<uint8_t>(abi::ContactEvent::kMove));
  EXPECT_EQ(e.pen.tool, abi::kPenToolEraser);
  EXPECT_EQ(e.pen.buttons, abi::kPenButtonPrimary);
  EXPECT_EQ(e.pen.x, 0.75f);
  EXPECT_EQ(e.pen.y, 0.5f);
  EXPECT_EQ(e.pen.pressure, 0.5f);
  EXPECT_EQ(e.pen.rotation, 359);
  EXPECT_EQ(e.pen.tilt, 45);

  Bytes p = kPenPacket;
  p[9] = 3;
  EXPECT_NE(refused(p).find("tool"), std::string::npos);
  p = kPenPacket;
  p[10] = 0x08;
  EXPECT_NE(refused(p).find("buttons"), std::string::npos);
  p = kPenPacket;
  p[26] = 91;
  EXPECT_NE(refused(p).find("tilt"), std::string::npos);
  p = kPenPacket;
  p[26] = abi::kTiltUnknown;
  EXPECT_EQ(one(p).pen.tilt, abi::kTiltUnknown);
  p = kPenPacket;
  p[31] = 0xFF, p[30] = 0x80;  // major -inf
  EXPECT_NE(refused(p).find("contact area"), std::string::npos);
}

TEST(GsInputPacket, ControllerArrival) {
  const InputEvent e = one({0x00, 0x00, 0x00, 0x0C, 0x04, 0x00, 0x00, 0x55,  //
                            0x03, 0x02, 0x0B, 0x00, 0xFF, 0xF7, 0x3F, 0x00});
  EXPECT_EQ(e.kind, kind(InputKind::kPadArrival));
  EXPECT_EQ(e.index, 3);
  EXPECT_EQ(e.pad_arrival.type, static_cast<uint8_t>(abi::PadType::kPlayStation));
  EXPECT_EQ(e.pad_arrival.capabilities, 0x0B);
  EXPECT_EQ(e.pad_arrival.supported_buttons, abi::kPadButtonsKnown);
  const InputEvent steam = one({0x00, 0x00, 0x00, 0x0C, 0x04, 0x00, 0x00, 0x55,  //
                                0x00, 0x04, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00});
  EXPECT_EQ(steam.pad_arrival.type, static_cast<uint8_t>(abi::PadType::kUnknown));
  EXPECT_NE(refused({0x00, 0x00, 0x00, 0x0C, 0x04, 0x00, 0x00, 0x55,  //
                     0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
                .find("controller 16"),
            std::string::npos);
}

TEST(GsInputPacket, ControllerTouchMotionAndBatteryAreChecked) {
  EXPECT_TRUE(
      decode({0x00, 0x00, 0x00, 0x18, 0x05, 0x00, 0x00, 0x55, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00,
              0x00, 0x00, 0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x80, 0x3F})
          .empty());
  EXPECT_TRUE(decode({0x00, 0x00, 0x00, 0x14, 0x06, 0x00, 0x00, 0x55, 0x00, 0x01, 0x00, 0x00,
                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3F})
                  .empty());
  EXPECT_TRUE(
      decode({0x00, 0x00, 0x00, 0x08, 0x07, 0x00, 0x00, 0x55, 0x00, 0x03, 0x50, 0x00}).empty());
  EXPECT_NE(
      refused({0x00, 0x00, 0x00, 0x08, 0x07, 0x00, 0x00, 0x55, 0x11, 0x03, 0x50, 0x00}).find("17"),
      std::string::npos);
}

TEST(GsInputPacket, FramingErrorsNameWhatIsWrong) {
  EXPECT_NE(refused({0x00, 0x00, 0x00, 0x04, 0x03, 0x00, 0x00}).find("header"), std::string::npos);
  // The size field says 9 bytes follow, 10 do.
  EXPECT_NE(
      refused({0x00, 0x00, 0x00, 0x09, 0x03, 0x00, 0x00, 0x00, 0x00, 0x41, 0x80, 0x00, 0x00, 0x00})
          .find("size field 9"),
      std::string::npos);
  // A key packet of 4 body bytes.
  EXPECT_NE(refused({0x00, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x00, 0x00, 0x41, 0x80, 0x00})
                .find("needs 6"),
            std::string::npos);
  // 0x06 is the relative mouse of clients older than appversion 5: not ours.
  EXPECT_NE(refused({0x00, 0x00, 0x00, 0x08, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01})
                .find("unknown magic 0x00000006"),
            std::string::npos);
  EXPECT_NE(
      refused({0x00, 0x00, 0x00, 0x0A, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00})
          .find("virtual key"),
      std::string::npos);
  // Longer bodies than the client's structure are fine (later fields are ignored).
  EXPECT_EQ(one({0x00, 0x00, 0x00, 0x06, 0x08, 0x00, 0x00, 0x00, 0x02, 0xAA}).button.button, 2u);
}

TEST(GsInputPacket, EventsAreAppended) {
  std::vector<InputEvent> out;
  ASSERT_TRUE(decodeInputPacket(Bytes{0x00, 0x00, 0x00, 0x05, 0x08, 0x00, 0x00, 0x00, 0x01}, out));
  ASSERT_TRUE(decodeInputPacket(Bytes{0x00, 0x00, 0x00, 0x05, 0x09, 0x00, 0x00, 0x00, 0x01}, out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].kind, kind(InputKind::kButtonUp));
  EXPECT_STREQ(inputMagicName(kInputPen), "pen");
  EXPECT_STREQ(inputMagicName(0x42), "unknown");
}

}  // namespace
}  // namespace funkhaus::net::gamestream
