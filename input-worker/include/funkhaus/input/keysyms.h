// X keysyms for what the client sends: a Windows virtual-key code (US layout for the OEM
// punctuation keys, as GameStream clients normalise them) or a Unicode code point. Pure
// functions, no X connection; any thread.
#pragma once

#include <cstdint>

namespace funkhaus::input {

inline constexpr uint32_t kNoSymbol = 0;

// The keysym of the unshifted key a Windows VK code names (letters lower case: 0x41 'A' -> XK_a),
// or kNoSymbol for codes without a key (mouse buttons, IME, unassigned).
uint32_t keysymForVk(uint32_t vk);

// The keysym that types `code_point`: the Latin-1 keysym (== the code point) for printable
// Latin-1, the function keysym for BackSpace, Tab, Return/LF, Escape and Delete, else the
// Unicode keysym 0x1000000 + code point. kNoSymbol for other C0/C1 controls.
uint32_t keysymForCodePoint(uint32_t code_point);

}  // namespace funkhaus::input
