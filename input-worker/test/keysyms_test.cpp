// The Windows VK -> X keysym table and code point -> keysym, without X.
#include "funkhaus/input/keysyms.h"

#include <X11/XF86keysym.h>
#include <X11/keysym.h>
#include <gtest/gtest.h>

namespace funkhaus::input {
namespace {

TEST(KeysymsTest, LettersAndDigitsAreUnshifted) {
  EXPECT_EQ(keysymForVk(0x41), static_cast<uint32_t>(XK_a));
  EXPECT_EQ(keysymForVk(0x5A), static_cast<uint32_t>(XK_z));
  EXPECT_EQ(keysymForVk(0x30), static_cast<uint32_t>(XK_0));
  EXPECT_EQ(keysymForVk(0x39), static_cast<uint32_t>(XK_9));
}

TEST(KeysymsTest, FunctionKeysF1ToF24) {
  EXPECT_EQ(keysymForVk(0x70), static_cast<uint32_t>(XK_F1));
  EXPECT_EQ(keysymForVk(0x7B), static_cast<uint32_t>(XK_F12));
  EXPECT_EQ(keysymForVk(0x87), static_cast<uint32_t>(XK_F24));
}

TEST(KeysymsTest, NavigationKeypadAndModifiers) {
  EXPECT_EQ(keysymForVk(0x25), static_cast<uint32_t>(XK_Left));
  EXPECT_EQ(keysymForVk(0x26), static_cast<uint32_t>(XK_Up));
  EXPECT_EQ(keysymForVk(0x27), static_cast<uint32_t>(XK_Right));
  EXPECT_EQ(keysymForVk(0x28), static_cast<uint32_t>(XK_Down));
  EXPECT_EQ(keysymForVk(0x21), static_cast<uint32_t>(XK_Prior));
  EXPECT_EQ(keysymForVk(0x22), static_cast<uint32_t>(XK_Next));
  EXPECT_EQ(keysymForVk(0x24), static_cast<uint32_t>(XK_Home));
  EXPECT_EQ(keysymForVk(0x23), static_cast<uint32_t>(XK_End));
  EXPECT_EQ(keysymForVk(0x2D), static_cast<uint32_t>(XK_Insert));
  EXPECT_EQ(keysymForVk(0x2E), static_cast<uint32_t>(XK_Delete));
  EXPECT_EQ(keysymForVk(0x60), static_cast<uint32_t>(XK_KP_0));
  EXPECT_EQ(keysymForVk(0x69), static_cast<uint32_t>(XK_KP_9));
  EXPECT_EQ(keysymForVk(0x6A), static_cast<uint32_t>(XK_KP_Multiply));
  EXPECT_EQ(keysymForVk(0x6B), static_cast<uint32_t>(XK_KP_Add));
  EXPECT_EQ(keysymForVk(0x6D), static_cast<uint32_t>(XK_KP_Subtract));
  EXPECT_EQ(keysymForVk(0x6E), static_cast<uint32_t>(XK_KP_Decimal));
  EXPECT_EQ(keysymForVk(0x6F), static_cast<uint32_t>(XK_KP_Divide));
  EXPECT_EQ(keysymForVk(0x10), static_cast<uint32_t>(XK_Shift_L));
  EXPECT_EQ(keysymForVk(0xA0), static_cast<uint32_t>(XK_Shift_L));
  EXPECT_EQ(keysymForVk(0xA1), static_cast<uint32_t>(XK_Shift_R));
  EXPECT_EQ(keysymForVk(0x11), static_cast<uint32_t>(XK_Control_L));
  EXPECT_EQ(keysymForVk(0xA3), static_cast<uint32_t>(XK_Control_R));
  EXPECT_EQ(keysymForVk(0x12), static_cast<uint32_t>(XK_Alt_L));
  EXPECT_EQ(keysymForVk(0xA5), static_cast<uint32_t>(XK_Alt_R));
  EXPECT_EQ(keysymForVk(0x5B), static_cast<uint32_t>(XK_Super_L));
  EXPECT_EQ(keysymForVk(0x5C), static_cast<uint32_t>(XK_Super_R));
  EXPECT_EQ(keysymForVk(0x0D), static_cast<uint32_t>(XK_Return));
  EXPECT_EQ(keysymForVk(0x08), static_cast<uint32_t>(XK_BackSpace));
  EXPECT_EQ(keysymForVk(0x1B), static_cast<uint32_t>(XK_Escape));
  EXPECT_EQ(keysymForVk(0x20), static_cast<uint32_t>(XK_space));
}

TEST(KeysymsTest, OemPunctuationAsOnAUsKeyboard) {
  EXPECT_EQ(keysymForVk(0xBA), static_cast<uint32_t>(XK_semicolon));
  EXPECT_EQ(keysymForVk(0xBB), static_cast<uint32_t>(XK_equal));
  EXPECT_EQ(keysymForVk(0xBC), static_cast<uint32_t>(XK_comma));
  EXPECT_EQ(keysymForVk(0xBD), static_cast<uint32_t>(XK_minus));
  EXPECT_EQ(keysymForVk(0xBE), static_cast<uint32_t>(XK_period));
  EXPECT_EQ(keysymForVk(0xBF), static_cast<uint32_t>(XK_slash));
  EXPECT_EQ(keysymForVk(0xC0), static_cast<uint32_t>(XK_grave));
  EXPECT_EQ(keysymForVk(0xDB), static_cast<uint32_t>(XK_bracketleft));
  EXPECT_EQ(keysymForVk(0xDC), static_cast<uint32_t>(XK_backslash));
  EXPECT_EQ(keysymForVk(0xDD), static_cast<uint32_t>(XK_bracketright));
  EXPECT_EQ(keysymForVk(0xDE), static_cast<uint32_t>(XK_apostrophe));
  EXPECT_EQ(keysymForVk(0xE2), static_cast<uint32_t>(XK_less));
}

TEST(KeysymsTest, CodesWithoutAKeyHaveNoSymbol) {
  for (uint32_t vk : {0x00u, 0x01u, 0x02u, 0x07u, 0x0Eu, 0x3Au, 0x40u, 0xE5u, 0xFFu, 0x100u})
    EXPECT_EQ(keysymForVk(vk), kNoSymbol) << vk;
}

TEST(KeysymsTest, CodePoints) {
  EXPECT_EQ(keysymForCodePoint('a'), static_cast<uint32_t>(XK_a));
  EXPECT_EQ(keysymForCodePoint('A'), static_cast<uint32_t>(XK_A));
  EXPECT_EQ(keysymForCodePoint(0xE4), static_cast<uint32_t>(XK_adiaeresis));  // ä, Latin-1
  EXPECT_EQ(keysymForCodePoint(0x20AC), 0x10020ACu);                          // €
  EXPECT_EQ(keysymForCodePoint(0x1F600), 0x101F600u);                         // 😀
  EXPECT_EQ(keysymForCodePoint('\n'), static_cast<uint32_t>(XK_Return));
  EXPECT_EQ(keysymForCodePoint('\t'), static_cast<uint32_t>(XK_Tab));
  EXPECT_EQ(keysymForCodePoint(0x08), static_cast<uint32_t>(XK_BackSpace));
  EXPECT_EQ(keysymForCodePoint(0x01), kNoSymbol);
  EXPECT_EQ(keysymForCodePoint(0x85), kNoSymbol);  // C1 control
  EXPECT_EQ(keysymForCodePoint(0x110000), kNoSymbol);
}

}  // namespace
}  // namespace funkhaus::input
