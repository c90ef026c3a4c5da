// Recorder: an X client with a window over the whole screen that has the focus; it records the
// key, button and motion events that arrive, translating keycodes with the server's mapping as
// a client does, and asks the server what is down. Used by the input tests (one thread).
#pragma once

#include <X11/keysym.h>
#include <xcb/xcb.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace funkhaus::input::test {

struct Recorded {
  uint8_t type = 0;     // XCB_KEY_PRESS, ...
  uint32_t detail = 0;  // keysym (keys) or button
  int16_t x = 0, y = 0;
};

// The X client that receives what the sink sends.
class Recorder {
 public:
  explicit Recorder(const std::string& display) {
    conn_ = xcb_connect(display.c_str(), nullptr);
    if (xcb_connection_has_error(conn_) != 0) return;
    xcb_screen_t* screen = xcb_setup_roots_iterator(xcb_get_setup(conn_)).data;
    root_ = screen->root;
    window_ = xcb_generate_id(conn_);
    const uint32_t values[] = {1 /* override redirect */,
                               XCB_EVENT_MASK_KEY_PRESS | XCB_EVENT_MASK_KEY_RELEASE |
                                   XCB_EVENT_MASK_BUTTON_PRESS | XCB_EVENT_MASK_BUTTON_RELEASE |
                                   XCB_EVENT_MASK_POINTER_MOTION};
    xcb_create_window(conn_, XCB_COPY_FROM_PARENT, window_, root_, 0, 0, screen->width_in_pixels,
                      screen->height_in_pixels, 0, XCB_WINDOW_CLASS_INPUT_OUTPUT,
                      screen->root_visual, XCB_CW_OVERRIDE_REDIRECT | XCB_CW_EVENT_MASK, values);
    xcb_map_window(conn_, window_);
    sync();
    xcb_set_input_focus(conn_, XCB_INPUT_FOCUS_POINTER_ROOT, window_, XCB_CURRENT_TIME);
    // No pointer acceleration: relative motion must arrive as sent.
    xcb_change_pointer_control(conn_, 1, 1, 1, 1, 1);
    sync();
    drain();
  }
  ~Recorder() { xcb_disconnect(conn_); }
  bool ok() const { return xcb_connection_has_error(conn_) == 0; }

  void sync() { free(xcb_get_input_focus_reply(conn_, xcb_get_input_focus(conn_), nullptr)); }

  // Everything that arrived since the last call (after a round trip, so it is all there).
  std::vector<Recorded> drain() {
    sync();
    std::vector<Recorded> out;
    while (xcb_generic_event_t* e = xcb_poll_for_event(conn_)) {
      const uint8_t type = e->response_type & 0x7F;
      if (type == XCB_KEY_PRESS || type == XCB_KEY_RELEASE) {
        auto* k = reinterpret_cast<xcb_key_press_event_t*>(e);
        out.push_back({type, keysym(k->detail, k->state), k->root_x, k->root_y});
      } else if (type == XCB_BUTTON_PRESS || type == XCB_BUTTON_RELEASE) {
        auto* b = reinterpret_cast<xcb_button_press_event_t*>(e);
        out.push_back({type, b->detail, b->root_x, b->root_y});
      } else if (type == XCB_MOTION_NOTIFY) {
        auto* m = reinterpret_cast<xcb_motion_notify_event_t*>(e);
        out.push_back({type, 0, m->root_x, m->root_y});
      }
      free(e);
    }
    return out;
  }

  // Keysyms of the key presses (what a client would type), modifiers left out.
  std::vector<uint32_t> typed() {
    std::vector<uint32_t> out;
    for (const auto& r : drain())
      if (r.type == XCB_KEY_PRESS && !isModifier(r.detail)) out.push_back(r.detail);
    return out;
  }

  std::vector<uint32_t> buttonsPressed() {
    std::vector<uint32_t> out;
    for (const auto& r : drain())
      if (r.type == XCB_BUTTON_PRESS) out.push_back(r.detail);
    return out;
  }

  std::pair<int, int> pointer() {
    auto* p = xcb_query_pointer_reply(conn_, xcb_query_pointer(conn_, root_), nullptr);
    std::pair<int, int> at{p->root_x, p->root_y};
    mask_ = p->mask;
    free(p);
    return at;
  }
  uint16_t buttonMask() {
    pointer();
    return mask_ & (XCB_BUTTON_MASK_1 | XCB_BUTTON_MASK_2 | XCB_BUTTON_MASK_3 | XCB_BUTTON_MASK_4 |
                    XCB_BUTTON_MASK_5);
  }

  // Keycodes the server has down (QueryKeymap).
  std::vector<int> keysDown() {
    auto* k = xcb_query_keymap_reply(conn_, xcb_query_keymap(conn_), nullptr);
    std::vector<int> down;
    for (int kc = 0; kc < 256; ++kc)
      if ((k->keys[kc / 8] >> (kc % 8) & 1) != 0) down.push_back(kc);
    free(k);
    return down;
  }

 private:
  static bool isModifier(uint32_t ks) { return ks >= XK_Shift_L && ks <= XK_Hyper_R; }

  // As a client does it: the mapping as the server has it now, column 1 with Shift, or for a
  // keypad key with NumLock (Mod2 in the default keymap).
  uint32_t keysym(uint8_t keycode, uint16_t state) {
    auto* map =
        xcb_get_keyboard_mapping_reply(conn_, xcb_get_keyboard_mapping(conn_, keycode, 1), nullptr);
    if (map == nullptr) return 0;
    const xcb_keysym_t* syms = xcb_get_keyboard_mapping_keysyms(map);
    const int n = xcb_get_keyboard_mapping_keysyms_length(map);
    uint32_t ks = n > 0 ? syms[0] : 0;
    const bool keypad = n > 1 && syms[1] >= XK_KP_Space && syms[1] <= XK_KP_9;
    const bool shift = (state & XCB_MOD_MASK_SHIFT) != 0;
    const bool num_lock = keypad && (state & XCB_MOD_MASK_2) != 0;
    if ((shift != num_lock) && n > 1 && syms[1] != 0) ks = syms[1];
    free(map);
    return ks;
  }

  xcb_connection_t* conn_ = nullptr;
  xcb_window_t root_ = 0, window_ = 0;
  uint16_t mask_ = 0;
};

}  // namespace funkhaus::input::test
