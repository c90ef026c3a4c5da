// Fuzz target: a client's input packet (control message 0x0206 payload). Never crashes; every
// event it yields passes the ring's checks, and a refused packet appends nothing.
// fuzz-parser: net-worker/source/gamestream/input_packet.cpp
#include <cstddef>
#include <cstdint>
#include <vector>

#include "funkhaus/common/input_ring.h"
#include "funkhaus/net/gamestream/input_packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus;
  std::vector<abi::InputEvent> events(1);
  const auto n = net::gamestream::decodeInputPacket(std::span(data, size), events);
  if (!n && events.size() != 1) __builtin_trap();
  if (n && events.size() != 1 + *n) __builtin_trap();
  for (size_t i = 1; i < events.size(); ++i)
    if (!checkInputEvent(events[i])) __builtin_trap();
  return 0;
}

// One packet of every magic, so mutations start from what clients send.
std::vector<std::vector<uint8_t>> fuzzSeeds() {
  auto packet = [](uint32_t magic, std::vector<uint8_t> body) {
    const uint32_t size = static_cast<uint32_t>(4 + body.size());
    std::vector<uint8_t> p = {static_cast<uint8_t>(size >> 24),  static_cast<uint8_t>(size >> 16),
                              static_cast<uint8_t>(size >> 8),   static_cast<uint8_t>(size),
                              static_cast<uint8_t>(magic),       static_cast<uint8_t>(magic >> 8),
                              static_cast<uint8_t>(magic >> 16), static_cast<uint8_t>(magic >> 24)};
    p.insert(p.end(), body.begin(), body.end());
    return p;
  };
  using namespace funkhaus::net::gamestream;
  const std::vector<uint8_t> floats = {0, 0, 0, 0x3F, 0, 0, 0x80, 0x3E, 0, 0, 0x80, 0x3F};
  std::vector<uint8_t> touch = {1, 0, 0x5A, 0, 7, 0, 0, 0};
  touch.insert(touch.end(), floats.begin(), floats.end());
  touch.insert(touch.end(), 8, 0);
  std::vector<uint8_t> pen = {3, 1, 1, 0};
  pen.insert(pen.end(), floats.begin(), floats.end());
  pen.insert(pen.end(), {0x67, 0x01, 0x2D, 0});
  pen.insert(pen.end(), 8, 0);
  return {
      packet(kInputKeyDown, {0, 0x41, 0x80, 1, 0, 0}),
      packet(kInputKeyUp, {1, 0xA0, 0x80, 0, 0, 0}),
      packet(kInputMousePosition, {0, 100, 0, 50, 0, 0, 7, 0x7F, 4, 0x37}),
      packet(kInputMouseMove, {0xFF, 0xFE, 1, 0x2C}),
      packet(kInputButtonDown, {1}),
      packet(kInputButtonUp, {3}),
      packet(kInputScroll, {0, 0x78, 0, 0x78, 0, 0}),
      packet(kInputPad, {0x1A, 0,    2,    0, 5, 0,    0x14, 0,    1, 0x10, 0xFF, 0x80, 0,
                         0x80, 0xFF, 0x7F, 1, 0, 0xFE, 0xFF, 0x9C, 0, 1,    0,    0x55, 0}),
      packet(kInputHapticsEnable, {1, 0}),
      packet(kInputUtf8Text, {0xE2, 0x82, 0xAC}),
      packet(kInputHScroll, {0xFF, 0x10}),
      packet(kInputTouch, touch),
      packet(kInputPen, pen),
      packet(kInputPadArrival, {3, 2, 0x0B, 0, 0xFF, 0xF7, 0x3F, 0}),
      packet(kInputPadTouch, std::vector<uint8_t>(20, 0)),
      packet(kInputPadMotion, std::vector<uint8_t>(16, 0)),
      packet(kInputPadBattery, {0, 3, 0x50, 0}),
  };
}
