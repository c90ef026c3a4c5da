// Golden layout of the input ring (abi/input_ring.h): its header, event slots, held/applied state
// and rumble entries, and the values of its enums and constants. A change here must bump
// kInputRingVersion.
#include <cstring>

#include "funkhaus/abi/codec.h"
#include "funkhaus/abi/input_ring.h"
#include "funkhaus/abi/message.h"
#include "funkhaus/abi/status_page.h"
#include "golden_layout.h"

namespace funkhaus::abi {
namespace {

TEST(GoldenLayout, InputKey) {
  checkLayout<InputKey>("InputKey", 8,
                        {{"vk", 0, 4}, {"modifiers", 4, 1}, {"flags", 5, 1}, {"reserved", 6, 2}},
                        {W(vk), W(modifiers), W(flags), W(reserved)});
}

TEST(GoldenLayout, InputPointer) {
  checkLayout<InputPointer>("InputPointer", 16,
                            {{"x", 0, 4}, {"y", 4, 4}, {"ref_width", 8, 4}, {"ref_height", 12, 4}},
                            {W(x), W(y), W(ref_width), W(ref_height)});
}

TEST(GoldenLayout, InputButtonScrollText) {
  checkLayout<InputButton>("InputButton", 4, {{"button", 0, 4}}, {W(button)});
  checkLayout<InputScroll>("InputScroll", 4, {{"amount", 0, 4}}, {W(amount)});
  checkLayout<InputText>("InputText", 4, {{"code_point", 0, 4}}, {W(code_point)});
}

TEST(GoldenLayout, InputPad) {
  checkLayout<InputPad>("InputPad", 16,
                        {{"buttons", 0, 4},
                         {"active_mask", 4, 2},
                         {"left_trigger", 6, 1},
                         {"right_trigger", 7, 1},
                         {"left_x", 8, 2},
                         {"left_y", 10, 2},
                         {"right_x", 12, 2},
                         {"right_y", 14, 2}},
                        {W(buttons), W(active_mask), W(left_trigger), W(right_trigger), W(left_x),
                         W(left_y), W(right_x), W(right_y)});
}

TEST(GoldenLayout, InputPadArrival) {
  checkLayout<InputPadArrival>(
      "InputPadArrival", 8,
      {{"type", 0, 1}, {"reserved", 1, 1}, {"capabilities", 2, 2}, {"supported_buttons", 4, 4}},
      {W(type), W(reserved), W(capabilities), W(supported_buttons)});
}

TEST(GoldenLayout, InputTouch) {
  checkLayout<InputTouch>("InputTouch", 28,
                          {{"event", 0, 1},
                           {"reserved", 1, 1},
                           {"rotation", 2, 2},
                           {"pointer_id", 4, 4},
                           {"x", 8, 4},
                           {"y", 12, 4},
                           {"pressure", 16, 4},
                           {"major", 20, 4},
                           {"minor", 24, 4}},
                          {W(event), W(reserved), W(rotation), W(pointer_id), W(x), W(y),
                           W(pressure), W(major), W(minor)});
}

TEST(GoldenLayout, InputPen) {
  checkLayout<InputPen>("InputPen", 28,
                        {{"event", 0, 1},
                         {"tool", 1, 1},
                         {"buttons", 2, 1},
                         {"tilt", 3, 1},
                         {"rotation", 4, 2},
                         {"reserved", 6, 2},
                         {"x", 8, 4},
                         {"y", 12, 4},
                         {"pressure", 16, 4},
                         {"major", 20, 4},
                         {"minor", 24, 4}},
                        {W(event), W(tool), W(buttons), W(tilt), W(rotation), W(reserved), W(x),
                         W(y), W(pressure), W(major), W(minor)});
}

TEST(GoldenLayout, InputEvent) {
  // The payload union is checked as its bytes; each member sits at its start (below).
  checkLayout<InputEvent>(
      "InputEvent", 64,
      {{"sequence", 0, 8},
       {"received_ns", 8, 8},
       {"kind", 16, 2},
       {"index", 18, 1},
       {"reserved0", 19, 1},
       {"reserved1", 20, 4},
       {"bytes", 24, 40}},
      {W(sequence), W(received_ns), W(kind), W(index), W(reserved0), W(reserved1), W(bytes)});
  EXPECT_EQ(offsetof(InputEvent, key), 24u);
  EXPECT_EQ(offsetof(InputEvent, pointer), 24u);
  EXPECT_EQ(offsetof(InputEvent, button), 24u);
  EXPECT_EQ(offsetof(InputEvent, scroll), 24u);
  EXPECT_EQ(offsetof(InputEvent, text), 24u);
  EXPECT_EQ(offsetof(InputEvent, pad), 24u);
  EXPECT_EQ(offsetof(InputEvent, pad_arrival), 24u);
  EXPECT_EQ(offsetof(InputEvent, touch), 24u);
  EXPECT_EQ(offsetof(InputEvent, pen), 24u);
  // A pattern through one member lands in the union's bytes.
  InputEvent e{};
  e.pen.minor = 1.0f;
  uint8_t raw[64];
  std::memcpy(raw, &e, sizeof raw);
  EXPECT_EQ(std::memcmp(raw + 24 + 24, &e.pen.minor, 4), 0);
}

TEST(GoldenLayout, InputHeld) {
  checkLayout<InputHeld>("InputHeld", 304,
                         {{"keys", 0, 32},
                          {"buttons", 32, 4},
                          {"pads", 36, 4},
                          {"touches", 40, 4},
                          {"pen", 44, 4},
                          {"pad", 48, 256}},
                         {W(keys), W(buttons), W(pads), W(touches), W(pen), W(pad)});
}

TEST(GoldenLayout, InputRumble) {
  checkLayout<InputRumble>(
      "InputRumble", 8, {{"generation", 0, 4}, {"low_frequency", 4, 2}, {"high_frequency", 6, 2}},
      {W(generation), W(low_frequency), W(high_frequency)});
}

TEST(GoldenLayout, InputRingHeader) {
  checkLayout<InputRingHeader>("InputRingHeader", 1024,
                               {{"magic", 0, 4},
                                {"abi_version", 4, 4},
                                {"ring_version", 8, 4},
                                {"header_size", 12, 4},
                                {"event_size", 16, 4},
                                {"slot_count", 20, 4},
                                {"events_offset", 24, 8},
                                {"total_size", 32, 8},
                                {"reserved0", 40, 24},
                                {"head", 64, 8},
                                {"commit_futex", 72, 4},
                                {"producer_pid", 76, 4},
                                {"rejected", 80, 8},
                                {"held_sequence", 88, 8},
                                {"producer_heartbeat_ns", 96, 8},
                                {"reserved1", 104, 24},
                                {"tail", 128, 8},
                                {"consumer_waiting", 136, 4},
                                {"consumer_pid", 140, 4},
                                {"overrun", 144, 8},
                                {"out_of_range", 152, 8},
                                {"consumer_heartbeat_ns", 160, 8},
                                {"applied_sequence", 168, 8},
                                {"reserved2", 176, 16},
                                {"held", 192, 304},
                                {"applied", 496, 304},
                                {"rumble", 800, 128},
                                {"reserved3", 928, 96}},
                               {W(magic),
                                W(abi_version),
                                W(ring_version),
                                W(header_size),
                                W(event_size),
                                W(slot_count),
                                W(events_offset),
                                W(total_size),
                                W(reserved0),
                                W(head),
                                W(commit_futex),
                                W(producer_pid),
                                W(rejected),
                                W(held_sequence),
                                W(producer_heartbeat_ns),
                                W(reserved1),
                                W(tail),
                                W(consumer_waiting),
                                W(consumer_pid),
                                W(overrun),
                                W(out_of_range),
                                W(consumer_heartbeat_ns),
                                W(applied_sequence),
                                W(reserved2),
                                W(held),
                                W(applied),
                                W(rumble),
                                W(reserved3)});
}

TEST(GoldenLayout, InputRingValues) {
  EXPECT_EQ(std::memcmp(&kInputRingMagic, "FHIR", 4), 0) << "little-endian 'FHIR'";
  EXPECT_EQ(kInputRingVersion, 1u);
  EXPECT_EQ(kMaxPads, 16u);
  EXPECT_EQ(kMaxInputSlots, 65536u);
  const uint16_t kinds[] = {static_cast<uint16_t>(InputKind::kKeyDown),
                            static_cast<uint16_t>(InputKind::kKeyUp),
                            static_cast<uint16_t>(InputKind::kMouseMove),
                            static_cast<uint16_t>(InputKind::kMousePosition),
                            static_cast<uint16_t>(InputKind::kButtonDown),
                            static_cast<uint16_t>(InputKind::kButtonUp),
                            static_cast<uint16_t>(InputKind::kScroll),
                            static_cast<uint16_t>(InputKind::kHScroll),
                            static_cast<uint16_t>(InputKind::kText),
                            static_cast<uint16_t>(InputKind::kPadState),
                            static_cast<uint16_t>(InputKind::kPadArrival),
                            static_cast<uint16_t>(InputKind::kPadRemoved),
                            static_cast<uint16_t>(InputKind::kTouch),
                            static_cast<uint16_t>(InputKind::kPen),
                            static_cast<uint16_t>(InputKind::kReleaseAll)};
  for (uint16_t i = 0; i < 15; ++i) EXPECT_EQ(kinds[i], i + 1);
  EXPECT_EQ(kMaxInputKind, 15u);
  EXPECT_EQ(kModifierShift, 0x01);
  EXPECT_EQ(kModifierCtrl, 0x02);
  EXPECT_EQ(kModifierAlt, 0x04);
  EXPECT_EQ(kModifierMeta, 0x08);
  EXPECT_EQ(kKeyNotNormalised, 0x01);
  EXPECT_EQ(kMaxMouseButton, 5u);
  EXPECT_EQ(kPadUp, 0x0001u);
  EXPECT_EQ(kPadGuide, 0x0400u);
  EXPECT_EQ(kPadA, 0x1000u);
  EXPECT_EQ(kPadY, 0x8000u);
  EXPECT_EQ(kPadPaddle1, 0x10000u);
  EXPECT_EQ(kPadMisc, 0x200000u);
  EXPECT_EQ(kPadButtonsKnown, 0x3FF7FFu);
  EXPECT_EQ(static_cast<uint8_t>(ContactEvent::kHover), 0);
  EXPECT_EQ(static_cast<uint8_t>(ContactEvent::kDown), 1);
  EXPECT_EQ(static_cast<uint8_t>(ContactEvent::kUp), 2);
  EXPECT_EQ(static_cast<uint8_t>(ContactEvent::kMove), 3);
  EXPECT_EQ(static_cast<uint8_t>(ContactEvent::kCancel), 4);
  EXPECT_EQ(static_cast<uint8_t>(ContactEvent::kButtonOnly), 5);
  EXPECT_EQ(static_cast<uint8_t>(ContactEvent::kHoverLeave), 6);
  EXPECT_EQ(static_cast<uint8_t>(ContactEvent::kCancelAll), 7);
  EXPECT_EQ(kMaxContactEvent, 7);
  EXPECT_EQ(kPenToolPen, 1);
  EXPECT_EQ(kPenToolEraser, 2);
  EXPECT_EQ(kPenButtonPrimary, 1);
  EXPECT_EQ(kPenButtonSecondary, 2);
  EXPECT_EQ(kPenButtonTertiary, 4);
  EXPECT_EQ(kRotationUnknown, 0xFFFF);
  EXPECT_EQ(kTiltUnknown, 0xFF);
  EXPECT_EQ(static_cast<uint8_t>(PadType::kXbox), 1);
  EXPECT_EQ(static_cast<uint8_t>(PadType::kPlayStation), 2);
  EXPECT_EQ(static_cast<uint8_t>(PadType::kNintendo), 3);
  EXPECT_EQ(static_cast<uint32_t>(RingId::kInput), 4u);
  EXPECT_EQ(static_cast<uint32_t>(RingId::kAudioPackets), 5u);
  EXPECT_EQ(kMaxRingId, 5u);
  EXPECT_EQ(static_cast<uint32_t>(DeviceId::kUinput), 2u);
  EXPECT_EQ(kMaxDeviceId, 2u);
  EXPECT_EQ(static_cast<uint32_t>(WorkerKind::kInput), 6u);
  EXPECT_EQ(static_cast<uint32_t>(WorkerKind::kAudio), 7u);
  EXPECT_EQ(static_cast<uint32_t>(WorkerKind::kConsole), 8u);
  EXPECT_EQ(kMaxWorkerKind, 8u);
  EXPECT_EQ(static_cast<uint32_t>(Codec::kOpus), 3u);
  EXPECT_EQ(static_cast<uint32_t>(Command::kSetAudio), 6u);
  EXPECT_EQ(static_cast<uint32_t>(Event::kAudioRequest), 8u);
  EXPECT_EQ(opusFormat(6, 240), 6u | 240u << 8);
  EXPECT_EQ(opusFormatChannels(opusFormat(8, 480)), 8u);
  EXPECT_EQ(opusFormatSamples(opusFormat(8, 480)), 480u);
  EXPECT_TRUE(audioRequested(audioRequest(2, 5)));
  EXPECT_FALSE(audioRequested(0));
  EXPECT_EQ(audioRequestChannels(audioRequest(6, 5)), 6u);
  EXPECT_EQ(audioRequestPacketMs(audioRequest(6, 10)), 10u);
}

}  // namespace
}  // namespace funkhaus::abi
