// Input ring events as the input worker's tests write them (what net would publish). Test code.
#pragma once

#include <cstdint>

#include "funkhaus/abi/input_ring.h"

namespace funkhaus::input::test {

inline abi::InputEvent make(abi::InputKind kind) {
  abi::InputEvent e{};
  e.kind = static_cast<uint16_t>(kind);
  return e;
}
inline abi::InputEvent key(abi::InputKind kind, uint32_t vk) {
  auto e = make(kind);
  e.key.vk = vk;
  return e;
}
inline abi::InputEvent button(abi::InputKind kind, uint32_t b) {
  auto e = make(kind);
  e.button.button = b;
  return e;
}
inline abi::InputEvent scroll(abi::InputKind kind, int32_t amount) {
  auto e = make(kind);
  e.scroll.amount = amount;
  return e;
}
inline abi::InputEvent position(int32_t x, int32_t y, uint32_t w, uint32_t h) {
  auto e = make(abi::InputKind::kMousePosition);
  e.pointer = {x, y, w, h};
  return e;
}
inline abi::InputEvent move(int32_t dx, int32_t dy) {
  auto e = make(abi::InputKind::kMouseMove);
  e.pointer.x = dx;
  e.pointer.y = dy;
  return e;
}
inline abi::InputEvent text(uint32_t code_point) {
  auto e = make(abi::InputKind::kText);
  e.text.code_point = code_point;
  return e;
}

}  // namespace funkhaus::input::test
