// funkhaus_x_recorder: test tool, an X client that records the input a display receives. It
// covers the screen with a window, takes the input focus (Xvfb has no window manager) and prints
// every key, button and motion event as a JSON line with its CLOCK_MONOTONIC receive time. One
// thread; commands on stdin, one a line: "keymap" (the keys the server has down), "pointer"
// (where the pointer is, which buttons are down), "quit".
//
// Output lines (stdout, flushed each):
//   {"type":"ready","width","height","window"}        once the window has the focus
//   {"type":"key_press"|"key_release","t_ns","keycode","keysym","code_point","state","root_x","root_y"}
//   {"type":"button_press"|"button_release","t_ns","button","state","root_x","root_y"}
//   {"type":"motion","t_ns","root_x","root_y"}
//   {"type":"mapping","t_ns"}                          the keyboard mapping changed
//   {"type":"focus_out","t_ns"}                        (the focus is taken back at once)
//   {"type":"keymap","t_ns","down":[keycode...],"keysyms":[...]}
//   {"type":"pointer","t_ns","root_x","root_y","mask"}
// The keysym of a key event is the one a client would see: column 1 of the keycode's mapping
// when Shift is in the event's state (and that column has one), else column 0. code_point is its
// Unicode character (Latin-1, Unicode keysyms, the Euro sign) or null.
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <xcb/xcb.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void emit(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

std::string codePointJson(uint32_t keysym) {
  uint32_t cp = 0;
  if ((keysym >= 0x20 && keysym <= 0x7E) || (keysym >= 0xA0 && keysym <= 0xFF))
    cp = keysym;
  else if (keysym >= 0x1000020 && keysym <= 0x110FFFF)
    cp = keysym - 0x1000000;
  else if (keysym == 0x20AC)
    cp = 0x20AC;  // XK_EuroSign
  return cp == 0 ? "null" : std::to_string(cp);
}

class Recorder {
 public:
  ~Recorder() {
    if (conn_ != nullptr) xcb_disconnect(conn_);
  }

  bool open() {
    conn_ = xcb_connect(nullptr, nullptr);
    if (xcb_connection_has_error(conn_) != 0) {
      std::fprintf(stderr, "funkhaus_x_recorder: cannot open display %s\n",
                   std::getenv("DISPLAY") ? std::getenv("DISPLAY") : "(DISPLAY unset)");
      return false;
    }
    const xcb_setup_t* setup = xcb_get_setup(conn_);
    min_keycode_ = setup->min_keycode;
    max_keycode_ = setup->max_keycode;
    xcb_screen_t* screen = xcb_setup_roots_iterator(setup).data;
    root_ = screen->root;
    auto* geometry = xcb_get_geometry_reply(conn_, xcb_get_geometry(conn_, root_), nullptr);
    width_ = geometry ? geometry->width : screen->width_in_pixels;
    height_ = geometry ? geometry->height : screen->height_in_pixels;
    std::free(geometry);
    readMapping();

    window_ = xcb_generate_id(conn_);
    const uint32_t values[] = {1,  // override redirect: nobody manages it
                               XCB_EVENT_MASK_KEY_PRESS | XCB_EVENT_MASK_KEY_RELEASE |
                                   XCB_EVENT_MASK_BUTTON_PRESS | XCB_EVENT_MASK_BUTTON_RELEASE |
                                   XCB_EVENT_MASK_POINTER_MOTION | XCB_EVENT_MASK_STRUCTURE_NOTIFY |
                                   XCB_EVENT_MASK_FOCUS_CHANGE};
    // Larger than the screen: a mode change that grows the root keeps it covered.
    xcb_create_window(conn_, XCB_COPY_FROM_PARENT, window_, root_, 0, 0, 8192, 8192, 0,
                      XCB_WINDOW_CLASS_INPUT_OUTPUT, screen->root_visual,
                      XCB_CW_OVERRIDE_REDIRECT | XCB_CW_EVENT_MASK, values);
    xcb_map_window(conn_, window_);
    xcb_flush(conn_);
    while (xcb_generic_event_t* e = xcb_wait_for_event(conn_)) {
      const bool mapped = (e->response_type & 0x7F) == XCB_MAP_NOTIFY;
      std::free(e);
      if (mapped) break;
    }
    takeFocus();
    // No pointer acceleration: a relative motion arrives as sent.
    xcb_change_pointer_control(conn_, 1, 1, 1, 1, 1);
    sync();
    emit("{\"type\":\"ready\",\"width\":" + std::to_string(width_) +
         ",\"height\":" + std::to_string(height_) + ",\"window\":" + std::to_string(window_) + "}");
    return xcb_connection_has_error(conn_) == 0;
  }

  // Returns false when the display is gone or "quit" came.
  bool run() {
    std::string input;
    for (;;) {
      pollfd fds[2] = {{xcb_get_file_descriptor(conn_), POLLIN, 0}, {0, POLLIN, 0}};
      const nfds_t count = stdin_open_ ? 2 : 1;
      if (::poll(fds, count, -1) < 0) continue;
      const int64_t at = monotonicNs();
      while (xcb_generic_event_t* e = xcb_poll_for_event(conn_)) {
        handle(e, at);
        std::free(e);
      }
      if (xcb_connection_has_error(conn_) != 0) {
        std::fprintf(stderr, "funkhaus_x_recorder: the display connection broke\n");
        return false;
      }
      if (count == 2 && (fds[1].revents & (POLLIN | POLLHUP)) != 0) {
        char buf[256];
        const ssize_t n = ::read(0, buf, sizeof buf);
        if (n <= 0) {
          stdin_open_ = false;
          continue;
        }
        input.append(buf, static_cast<size_t>(n));
        for (size_t nl; (nl = input.find('\n')) != std::string::npos;) {
          const std::string command = input.substr(0, nl);
          input.erase(0, nl + 1);
          if (command == "quit") return true;
          if (command == "keymap")
            keymap();
          else if (command == "pointer")
            pointer();
          else
            std::fprintf(stderr, "funkhaus_x_recorder: unknown command '%s'\n", command.c_str());
        }
      }
    }
  }

 private:
  void sync() { std::free(xcb_get_input_focus_reply(conn_, xcb_get_input_focus(conn_), nullptr)); }

  void takeFocus() {
    xcb_set_input_focus(conn_, XCB_INPUT_FOCUS_POINTER_ROOT, window_, XCB_CURRENT_TIME);
    xcb_flush(conn_);
  }

  void readMapping() {
    const auto count = static_cast<uint8_t>(max_keycode_ - min_keycode_ + 1);
    auto* map = xcb_get_keyboard_mapping_reply(
        conn_, xcb_get_keyboard_mapping(conn_, min_keycode_, count), nullptr);
    mapping_.clear();
    per_keycode_ = 0;
    if (map == nullptr) return;
    per_keycode_ = map->keysyms_per_keycode;
    const xcb_keysym_t* syms = xcb_get_keyboard_mapping_keysyms(map);
    mapping_.assign(syms, syms + xcb_get_keyboard_mapping_keysyms_length(map));
    std::free(map);
  }

  uint32_t keysym(uint8_t keycode, bool shift) const {
    if (keycode < min_keycode_ || per_keycode_ == 0) return 0;
    const size_t at = static_cast<size_t>(keycode - min_keycode_) * per_keycode_;
    if (at + per_keycode_ > mapping_.size()) return 0;
    if (shift && per_keycode_ > 1 && mapping_[at + 1] != 0) return mapping_[at + 1];
    return mapping_[at];
  }

  void handle(xcb_generic_event_t* e, int64_t at) {
    const std::string t = std::to_string(at);
    switch (e->response_type & 0x7F) {
      case XCB_KEY_PRESS:
      case XCB_KEY_RELEASE: {
        auto* k = reinterpret_cast<xcb_key_press_event_t*>(e);
        const uint32_t ks = keysym(k->detail, (k->state & XCB_MOD_MASK_SHIFT) != 0);
        emit(std::string("{\"type\":\"") +
             ((e->response_type & 0x7F) == XCB_KEY_PRESS ? "key_press" : "key_release") +
             "\",\"t_ns\":" + t + ",\"keycode\":" + std::to_string(k->detail) +
             ",\"keysym\":" + std::to_string(ks) + ",\"code_point\":" + codePointJson(ks) +
             ",\"state\":" + std::to_string(k->state) + ",\"root_x\":" + std::to_string(k->root_x) +
             ",\"root_y\":" + std::to_string(k->root_y) + "}");
        break;
      }
      case XCB_BUTTON_PRESS:
      case XCB_BUTTON_RELEASE: {
        auto* b = reinterpret_cast<xcb_button_press_event_t*>(e);
        emit(std::string("{\"type\":\"") +
             ((e->response_type & 0x7F) == XCB_BUTTON_PRESS ? "button_press" : "button_release") +
             "\",\"t_ns\":" + t + ",\"button\":" + std::to_string(b->detail) +
             ",\"state\":" + std::to_string(b->state) + ",\"root_x\":" + std::to_string(b->root_x) +
             ",\"root_y\":" + std::to_string(b->root_y) + "}");
        break;
      }
      case XCB_MOTION_NOTIFY: {
        auto* m = reinterpret_cast<xcb_motion_notify_event_t*>(e);
        emit("{\"type\":\"motion\",\"t_ns\":" + t + ",\"root_x\":" + std::to_string(m->root_x) +
             ",\"root_y\":" + std::to_string(m->root_y) + "}");
        break;
      }
      case XCB_MAPPING_NOTIFY: {
        auto* m = reinterpret_cast<xcb_mapping_notify_event_t*>(e);
        if (m->request == XCB_MAPPING_KEYBOARD) {
          readMapping();
          emit("{\"type\":\"mapping\",\"t_ns\":" + t + "}");
        }
        break;
      }
      case XCB_FOCUS_OUT: {
        auto* f = reinterpret_cast<xcb_focus_out_event_t*>(e);
        // Grab/ungrab and pointer-root details are not a loss of the focus.
        if (f->mode == XCB_NOTIFY_MODE_NORMAL && f->detail != XCB_NOTIFY_DETAIL_INFERIOR &&
            f->detail != XCB_NOTIFY_DETAIL_POINTER) {
          emit("{\"type\":\"focus_out\",\"t_ns\":" + t + "}");
          takeFocus();
        }
        break;
      }
      default:
        break;
    }
  }

  void keymap() {
    auto* k = xcb_query_keymap_reply(conn_, xcb_query_keymap(conn_), nullptr);
    std::string down, syms;
    for (int kc = 0; k != nullptr && kc < 256; ++kc) {
      if ((k->keys[kc / 8] >> (kc % 8) & 1) == 0) continue;
      down += (down.empty() ? "" : ",") + std::to_string(kc);
      syms += (syms.empty() ? "" : ",") + std::to_string(keysym(static_cast<uint8_t>(kc), false));
    }
    std::free(k);
    emit("{\"type\":\"keymap\",\"t_ns\":" + std::to_string(monotonicNs()) + ",\"down\":[" + down +
         "],\"keysyms\":[" + syms + "]}");
  }

  void pointer() {
    auto* p = xcb_query_pointer_reply(conn_, xcb_query_pointer(conn_, root_), nullptr);
    if (p == nullptr) return;
    emit("{\"type\":\"pointer\",\"t_ns\":" + std::to_string(monotonicNs()) +
         ",\"root_x\":" + std::to_string(p->root_x) + ",\"root_y\":" + std::to_string(p->root_y) +
         ",\"mask\":" + std::to_string(p->mask) + "}");
    std::free(p);
  }

  xcb_connection_t* conn_ = nullptr;
  xcb_window_t root_ = 0, window_ = 0;
  uint16_t width_ = 0, height_ = 0;
  uint8_t min_keycode_ = 8, max_keycode_ = 255, per_keycode_ = 0;
  std::vector<uint32_t> mapping_;
  bool stdin_open_ = true;
};

}  // namespace

int main(int argc, char**) {
  if (argc != 1) {
    std::fputs(
        "Usage: funkhaus_x_recorder   (on $DISPLAY; prints JSON lines, reads commands: keymap, "
        "pointer, quit)\n",
        stderr);
    return 2;
  }
  Recorder recorder;
  if (!recorder.open()) return 1;
  return recorder.run() ? 0 : 1;
}
