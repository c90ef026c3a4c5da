// Windows VK -> X keysym table and code point -> keysym (see keysyms.h). The keysym values are
// from X11/keysymdef.h and X11/XF86keysym.h (headers only, nothing linked).
#include "funkhaus/input/keysyms.h"

#include <X11/XF86keysym.h>
#include <X11/keysym.h>

#include <array>

namespace funkhaus::input {

namespace {

constexpr std::array<uint32_t, 256> makeVkTable() {
  std::array<uint32_t, 256> t{};
  t[0x08] = XK_BackSpace;
  t[0x09] = XK_Tab;
  t[0x0C] = XK_Clear;
  t[0x0D] = XK_Return;
  t[0x10] = XK_Shift_L;  // VK_SHIFT, VK_CONTROL, VK_MENU: the generic ones mean the left key
  t[0x11] = XK_Control_L;
  t[0x12] = XK_Alt_L;
  t[0x13] = XK_Pause;
  t[0x14] = XK_Caps_Lock;
  t[0x1B] = XK_Escape;
  t[0x20] = XK_space;
  t[0x21] = XK_Prior;  // Page Up
  t[0x22] = XK_Next;   // Page Down
  t[0x23] = XK_End;
  t[0x24] = XK_Home;
  t[0x25] = XK_Left;
  t[0x26] = XK_Up;
  t[0x27] = XK_Right;
  t[0x28] = XK_Down;
  t[0x29] = XK_Select;
  t[0x2A] = XK_Print;
  t[0x2B] = XK_Execute;
  t[0x2C] = XK_Print;  // VK_SNAPSHOT
  t[0x2D] = XK_Insert;
  t[0x2E] = XK_Delete;
  t[0x2F] = XK_Help;
  for (uint32_t i = 0; i < 10; ++i) t[0x30 + i] = XK_0 + i;
  for (uint32_t i = 0; i < 26; ++i) t[0x41 + i] = XK_a + i;
  t[0x5B] = XK_Super_L;
  t[0x5C] = XK_Super_R;
  t[0x5D] = XK_Menu;
  t[0x5F] = XF86XK_Sleep;
  for (uint32_t i = 0; i < 10; ++i) t[0x60 + i] = XK_KP_0 + i;
  t[0x6A] = XK_KP_Multiply;
  t[0x6B] = XK_KP_Add;
  t[0x6C] = XK_KP_Separator;
  t[0x6D] = XK_KP_Subtract;
  t[0x6E] = XK_KP_Decimal;
  t[0x6F] = XK_KP_Divide;
  for (uint32_t i = 0; i < 24; ++i) t[0x70 + i] = XK_F1 + i;  // F1..F24 are consecutive
  t[0x90] = XK_Num_Lock;
  t[0x91] = XK_Scroll_Lock;
  t[0xA0] = XK_Shift_L;
  t[0xA1] = XK_Shift_R;
  t[0xA2] = XK_Control_L;
  t[0xA3] = XK_Control_R;
  t[0xA4] = XK_Alt_L;
  t[0xA5] = XK_Alt_R;
  t[0xA6] = XF86XK_Back;
  t[0xA7] = XF86XK_Forward;
  t[0xA8] = XF86XK_Refresh;
  t[0xA9] = XF86XK_Stop;
  t[0xAA] = XF86XK_Search;
  t[0xAB] = XF86XK_Favorites;
  t[0xAC] = XF86XK_HomePage;
  t[0xAD] = XF86XK_AudioMute;
  t[0xAE] = XF86XK_AudioLowerVolume;
  t[0xAF] = XF86XK_AudioRaiseVolume;
  t[0xB0] = XF86XK_AudioNext;
  t[0xB1] = XF86XK_AudioPrev;
  t[0xB2] = XF86XK_AudioStop;
  t[0xB3] = XF86XK_AudioPlay;
  t[0xB4] = XF86XK_Mail;
  t[0xB5] = XF86XK_AudioMedia;
  t[0xB6] = XF86XK_Launch0;
  t[0xB7] = XF86XK_Launch1;
  // OEM keys as on a US keyboard.
  t[0xBA] = XK_semicolon;
  t[0xBB] = XK_equal;
  t[0xBC] = XK_comma;
  t[0xBD] = XK_minus;
  t[0xBE] = XK_period;
  t[0xBF] = XK_slash;
  t[0xC0] = XK_grave;
  t[0xDB] = XK_bracketleft;
  t[0xDC] = XK_backslash;
  t[0xDD] = XK_bracketright;
  t[0xDE] = XK_apostrophe;
  t[0xE2] = XK_less;  // the 102nd key between left Shift and Z (<>)
  return t;
}

constexpr std::array<uint32_t, 256> kVkTable = makeVkTable();

}  // namespace

uint32_t keysymForVk(uint32_t vk) { return vk < kVkTable.size() ? kVkTable[vk] : kNoSymbol; }

uint32_t keysymForCodePoint(uint32_t code_point) {
  switch (code_point) {
    case 0x08:
      return XK_BackSpace;
    case 0x09:
      return XK_Tab;
    case 0x0A:
    case 0x0D:
      return XK_Return;
    case 0x1B:
      return XK_Escape;
    case 0x7F:
      return XK_Delete;
    default:
      break;
  }
  if (code_point < 0x20 || (code_point >= 0x80 && code_point < 0xA0)) return kNoSymbol;
  if (code_point <= 0xFF) return code_point;  // Latin-1 keysyms are the code points
  if (code_point > 0x10FFFF) return kNoSymbol;
  return 0x1000000 + code_point;
}

}  // namespace funkhaus::input
