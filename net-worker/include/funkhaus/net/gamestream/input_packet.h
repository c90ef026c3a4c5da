// GameStream input packets (gamestream.md §8, the payload of control message 0x0206): decoded
// from the client's untrusted bytes into input ring events. funkhaus-net main thread; pure logic.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "funkhaus/abi/input_ring.h"
#include "funkhaus/common/result.h"

namespace funkhaus::net::gamestream {

// Input packet magics (LE32 after the BE32 size), as moonlight-common-c sends them to a host of
// appversion 7 (its "gen 5" numbers: 0x07 relative mouse, 0x0A scroll, 0x0C pads).
inline constexpr uint32_t kInputKeyDown = 0x03;
inline constexpr uint32_t kInputKeyUp = 0x04;
inline constexpr uint32_t kInputMousePosition = 0x05;
inline constexpr uint32_t kInputMouseMove = 0x07;
inline constexpr uint32_t kInputButtonDown = 0x08;
inline constexpr uint32_t kInputButtonUp = 0x09;
inline constexpr uint32_t kInputScroll = 0x0A;
inline constexpr uint32_t kInputPad = 0x0C;
inline constexpr uint32_t kInputHapticsEnable = 0x0D;
inline constexpr uint32_t kInputUtf8Text = 0x17;
inline constexpr uint32_t kInputHScroll = 0x55000001;
inline constexpr uint32_t kInputTouch = 0x55000002;
inline constexpr uint32_t kInputPen = 0x55000003;
inline constexpr uint32_t kInputPadArrival = 0x55000004;
inline constexpr uint32_t kInputPadTouch = 0x55000005;
inline constexpr uint32_t kInputPadMotion = 0x55000006;
inline constexpr uint32_t kInputPadBattery = 0x55000007;

// Decodes one input packet (BE32 size of what follows it, LE32 magic, body) and appends its
// events to `out` (kind, index and payload; `sequence` and `received_ns` are the ring's). Returns
// how many it appended: 0 for packets the host takes note of without input (haptics enable,
// controller touchpad, motion and battery; a zero mouse motion or scroll).
//
// The size field must match the payload exactly; each body must be at least as long as the
// client's structure for its magic (longer is accepted: later clients may append fields), a
// UTF-8 text body 1..256 bytes of whole code points (an event each; one bad code point refuses
// the packet). Range checks: vk 1..255 (the
// client's keyCode & 0xFF), mouse buttons 1..5, controllers < 16, pad reference sizes >= 1, a
// Unicode scalar value other than NUL, known contact events, pen tools and buttons, tilt 0..90,
// rotation 0..360, finite floats with pressure and contact area in 0..1. Positions are clamped
// into the client's area (a contact or pointer just off the video edge is at the edge); bits
// the ABI does not know (modifiers, key flags, pad buttons) are dropped; pad types past
// Nintendo (Steam) become kUnknown. Anything else is an Error naming the packet and the field;
// `out` is then unchanged.
Result<size_t> decodeInputPacket(std::span<const uint8_t> payload,
                                 std::vector<abi::InputEvent>& out);

// The name of an input magic for logs ("key down", "pen", ...), or "unknown".
const char* inputMagicName(uint32_t magic);

}  // namespace funkhaus::net::gamestream
