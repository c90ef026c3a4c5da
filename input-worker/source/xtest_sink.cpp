// The XTEST sink (see xtest_sink.h): keys, pointer, buttons, wheel and text into an X display.
#include "funkhaus/input/xtest_sink.h"

#include <X11/keysym.h>
#include <spdlog/spdlog.h>
#include <xcb/randr.h>
#include <xcb/xcb.h>
#include <xcb/xtest.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "funkhaus/common/clock.h"
#include "funkhaus/input/keysyms.h"

namespace funkhaus::input {

namespace {

constexpr int32_t kNotch = 120;  // GameStream's wheel unit per notch
// GameStream buttons 1..5 -> X buttons: left, middle, right, back (8), forward (9).
constexpr std::array<uint8_t, abi::kMaxMouseButton + 1> kXButton = {0, 1, 2, 3, 8, 9};
constexpr uint8_t kWheelUp = 4, kWheelDown = 5, kWheelLeft = 6, kWheelRight = 7;

template <class T>
struct FreeDeleter {
  void operator()(T* p) const { std::free(p); }
};
template <class T>
using XReply = std::unique_ptr<T, FreeDeleter<T>>;

int16_t clampToInt16(int64_t v) {
  return static_cast<int16_t>(std::clamp<int64_t>(v, std::numeric_limits<int16_t>::min(),
                                                  std::numeric_limits<int16_t>::max()));
}

}  // namespace

Result<std::unique_ptr<XtestSink>> XtestSink::create(const XtestOptions& options) {
  auto sink = std::unique_ptr<XtestSink>(new XtestSink(options));
  if (auto r = sink->connect(); !r) return r.error();
  return sink;
}

XtestSink::~XtestSink() {
  if (conn_ == nullptr) return;
  if (!broken_) {
    releaseAll();
    restoreRemaps(true);
    xcb_flush(conn_);
  }
  xcb_disconnect(conn_);
}

Result<void> XtestSink::connect() {
  display_ = options_.display;
  if (display_.empty()) {
    const char* env = std::getenv("DISPLAY");
    if (env == nullptr || *env == '\0')
      return makeError(ErrorCode::kUnsupported, "xtest: no X display (DISPLAY is not set)");
    display_ = env;
  }
  int screen_number = 0;
  conn_ = xcb_connect(display_.c_str(), &screen_number);
  if (int err = xcb_connection_has_error(conn_); err != 0)
    return makeError(ErrorCode::kUnsupported, "xtest: cannot open display {} (xcb error {})",
                     display_, err);
  const xcb_query_extension_reply_t* xtest = xcb_get_extension_data(conn_, &xcb_test_id);
  if (xtest == nullptr || xtest->present == 0)
    return makeError(ErrorCode::kUnsupported, "xtest: display {} has no XTEST extension", display_);
  XReply<xcb_test_get_version_reply_t> version(
      xcb_test_get_version_reply(conn_, xcb_test_get_version(conn_, 2, 2), nullptr));
  if (!version) return makeError("xtest: XTEST GetVersion failed on {}", display_);

  auto screens = xcb_setup_roots_iterator(xcb_get_setup(conn_));
  for (int i = 0; i < screen_number && screens.rem > 0; ++i) xcb_screen_next(&screens);
  if (screens.rem == 0)
    return makeError("xtest: display {} has no screen {}", display_, screen_number);
  root_ = screens.data->root;
  width_ = screens.data->width_in_pixels;
  height_ = screens.data->height_in_pixels;

  // The virtual monitor's mode changes the root window's size: RandR tells, and ConfigureNotify
  // on the root where RandR is missing.
  const uint32_t mask = XCB_EVENT_MASK_STRUCTURE_NOTIFY;
  xcb_change_window_attributes(conn_, root_, XCB_CW_EVENT_MASK, &mask);
  const xcb_query_extension_reply_t* randr = xcb_get_extension_data(conn_, &xcb_randr_id);
  if (randr != nullptr && randr->present != 0) {
    XReply<xcb_randr_query_version_reply_t> rv(
        xcb_randr_query_version_reply(conn_, xcb_randr_query_version(conn_, 1, 2), nullptr));
    if (rv) {
      randr_ = true;
      randr_first_event_ = randr->first_event;
      xcb_randr_select_input(conn_, root_, XCB_RANDR_NOTIFY_MASK_SCREEN_CHANGE);
    }
  }
  if (auto r = readKeymap(); !r) return r;
  // Spare keycodes (no keysym at all) for Unicode text, taken from the top: the low ones are
  // where keyboards have their keys.
  for (int kc = max_keycode_; kc >= min_keycode_ && remaps_.size() < 16; --kc) {
    const size_t at = static_cast<size_t>(kc - min_keycode_) * per_keycode_;
    if (std::all_of(keymap_.begin() + static_cast<ptrdiff_t>(at),
                    keymap_.begin() + static_cast<ptrdiff_t>(at + per_keycode_),
                    [](uint32_t ks) { return ks == kNoSymbol; }))
      remaps_.push_back(Remap{static_cast<uint8_t>(kc), 0, 0});
  }
  xcb_flush(conn_);
  spdlog::info("xtest: display {}, root {}x{}, {} keycodes, {} spare for text", display_, width_,
               height_, max_keycode_ - min_keycode_ + 1, remaps_.size());
  return {};
}

Result<void> XtestSink::readKeymap() {
  const xcb_setup_t* setup = xcb_get_setup(conn_);
  min_keycode_ = setup->min_keycode;
  max_keycode_ = setup->max_keycode;
  const uint8_t count = static_cast<uint8_t>(max_keycode_ - min_keycode_ + 1);
  XReply<xcb_get_keyboard_mapping_reply_t> map(xcb_get_keyboard_mapping_reply(
      conn_, xcb_get_keyboard_mapping(conn_, min_keycode_, count), nullptr));
  if (!map) return makeError("xtest: GetKeyboardMapping failed on {}", display_);
  per_keycode_ = map->keysyms_per_keycode;
  const xcb_keysym_t* syms = xcb_get_keyboard_mapping_keysyms(map.get());
  const int n = xcb_get_keyboard_mapping_keysyms_length(map.get());
  keymap_.assign(syms, syms + n);
  keymap_.resize(static_cast<size_t>(count) * per_keycode_, kNoSymbol);
  by_keysym_.clear();
  // Column 0 first: a keysym on an unshifted key wins over the same one shifted elsewhere (the
  // 102nd key's '<' over Shift+comma), and lower keycodes over higher ones.
  for (uint8_t column = 0; column < std::min<uint8_t>(per_keycode_, 2); ++column) {
    for (int kc = min_keycode_; kc <= max_keycode_; ++kc) {
      const uint32_t ks = keymap_[static_cast<size_t>(kc - min_keycode_) * per_keycode_ + column];
      if (ks == kNoSymbol) continue;
      by_keysym_.try_emplace(ks, KeyLookup{static_cast<uint8_t>(kc), column});
    }
  }
  return {};
}

XtestSink::KeyLookup XtestSink::lookup(uint32_t keysym) const {
  auto found = by_keysym_.find(keysym);
  return found == by_keysym_.end() ? KeyLookup{} : found->second;
}

void XtestSink::setMapping(uint8_t keycode, uint32_t keysym) {
  std::vector<xcb_keysym_t> syms(per_keycode_, keysym);
  xcb_change_keyboard_mapping(conn_, 1, keycode, per_keycode_, syms.data());
  // Our picture follows at once; the MappingNotify the server sends re-reads it anyway.
  const size_t at = static_cast<size_t>(keycode - min_keycode_) * per_keycode_;
  for (uint32_t previous : {keymap_[at], at + 1 < keymap_.size() ? keymap_[at + 1] : 0u}) {
    auto found = by_keysym_.find(previous);
    if (previous != kNoSymbol && found != by_keysym_.end() && found->second.keycode == keycode)
      by_keysym_.erase(found);
  }
  std::fill_n(keymap_.begin() + static_cast<ptrdiff_t>(at), per_keycode_, keysym);
  if (keysym != kNoSymbol) by_keysym_.insert_or_assign(keysym, KeyLookup{keycode, 0});
}

uint8_t XtestSink::remapFor(uint32_t keysym) {
  const uint64_t now = monotonicNs();
  Remap* pick = nullptr;
  for (Remap& r : remaps_) {
    if (r.keysym == keysym) {
      r.used_ns = now;
      return r.keycode;
    }
  }
  for (Remap& r : remaps_) {
    if (keycodes_down_.test(r.keycode)) continue;
    if (pick == nullptr || (pick->keysym != 0 && (r.keysym == 0 || r.used_ns < pick->used_ns)))
      pick = &r;
  }
  if (pick == nullptr) return 0;
  pick->keysym = keysym;
  pick->used_ns = now;
  setMapping(pick->keycode, keysym);
  return pick->keycode;
}

void XtestSink::restoreRemaps(bool all) {
  const uint64_t now = monotonicNs();
  for (Remap& r : remaps_) {
    if (r.keysym == 0 || keycodes_down_.test(r.keycode)) continue;
    if (!all && now - r.used_ns < options_.remap_hold_ns) continue;
    r.keysym = 0;
    setMapping(r.keycode, kNoSymbol);
  }
}

bool XtestSink::takes(abi::InputKind kind) const {
  switch (kind) {
    case abi::InputKind::kText:
      return true;
    case abi::InputKind::kKeyDown:
    case abi::InputKind::kKeyUp:
    case abi::InputKind::kMouseMove:
    case abi::InputKind::kMousePosition:
    case abi::InputKind::kButtonDown:
    case abi::InputKind::kButtonUp:
    case abi::InputKind::kScroll:
    case abi::InputKind::kHScroll:
      return options_.keyboard_mouse;
    default:
      return false;
  }
}

Result<void> XtestSink::checkConnection() {
  if (!broken_ && xcb_connection_has_error(conn_) == 0) return {};
  if (!broken_) spdlog::error("xtest: the connection to display {} broke", display_);
  broken_ = true;
  return makeError(ErrorCode::kPeerLost, "xtest: display {} is gone", display_);
}

void XtestSink::keyEvent(uint8_t keycode, bool down) {
  xcb_test_fake_input(conn_, down ? XCB_KEY_PRESS : XCB_KEY_RELEASE, keycode, XCB_CURRENT_TIME,
                      XCB_NONE, 0, 0, 0);
  keycodes_down_.set(keycode, down);
}

Result<void> XtestSink::key(uint32_t vk, bool down) {
  const uint32_t keysym = keysymForVk(vk);
  if (!down) {
    // Up on the keycode it went down on, whatever happened to the mapping since.
    uint8_t keycode = std::exchange(vk_keycode_[vk], 0);
    if (keycode == 0 && keysym != kNoSymbol) keycode = lookup(keysym).keycode;
    if (keycode != 0) keyEvent(keycode, false);
    return {};
  }
  if (keysym == kNoSymbol) return makeError("xtest: virtual-key code {:#x} has no X key", vk);
  uint8_t keycode = vk_keycode_[vk];  // held: a repeat goes to the same key
  if (keycode == 0) keycode = lookup(keysym).keycode;
  if (keycode == 0) keycode = remapFor(keysym);  // e.g. F13..F24 on a keymap without them
  if (keycode == 0)
    return makeError("xtest: no keycode for keysym {:#x} (virtual-key {:#x})", keysym, vk);
  vk_keycode_[vk] = keycode;
  keyEvent(keycode, true);
  return {};
}

Result<void> XtestSink::text(uint32_t code_point) {
  const uint32_t keysym = keysymForCodePoint(code_point);
  if (keysym == kNoSymbol) return makeError("xtest: U+{:04X} cannot be typed", code_point);
  KeyLookup found = lookup(keysym);
  // A shifted keysym (e.g. 'A', '!') needs Shift; without a Shift key, or while keys of the
  // client are down (they would change the level), a spare keycode types it unshifted.
  const uint8_t shift = lookup(XK_Shift_L).keycode;
  const bool shift_down = shift != 0 && keycodes_down_.test(shift);
  if (found.keycode != 0 && found.column == 1 && (shift == 0 || shift_down)) found = {};
  if (found.keycode == 0) found = KeyLookup{remapFor(keysym), 0};
  if (found.keycode == 0) return makeError("xtest: no keycode free to type U+{:04X}", code_point);
  if (keycodes_down_.test(found.keycode)) keyEvent(found.keycode, false);
  const bool with_shift = found.column == 1;
  if (with_shift) keyEvent(shift, true);
  keyEvent(found.keycode, true);
  keyEvent(found.keycode, false);
  if (with_shift) keyEvent(shift, false);
  return {};
}

void XtestSink::button(uint8_t x_button, bool down) {
  xcb_test_fake_input(conn_, down ? XCB_BUTTON_PRESS : XCB_BUTTON_RELEASE, x_button,
                      XCB_CURRENT_TIME, XCB_NONE, 0, 0, 0);
  buttons_down_ = down ? buttons_down_ | 1u << x_button : buttons_down_ & ~(1u << x_button);
}

void XtestSink::wheel(int32_t amount, int32_t& accumulated, uint8_t positive, uint8_t negative) {
  // A turn the other way starts afresh: half a notch up then a notch down is one notch down.
  if ((amount > 0 && accumulated < 0) || (amount < 0 && accumulated > 0)) accumulated = 0;
  accumulated += amount;
  while (accumulated >= kNotch || accumulated <= -kNotch) {
    const uint8_t b = accumulated > 0 ? positive : negative;
    button(b, true);
    button(b, false);
    accumulated += accumulated > 0 ? -kNotch : kNotch;
  }
}

Result<void> XtestSink::apply(const abi::InputEvent& event) {
  if (auto r = checkConnection(); !r) return r;
  switch (static_cast<abi::InputKind>(event.kind)) {
    case abi::InputKind::kKeyDown:
      return key(event.key.vk, true);
    case abi::InputKind::kKeyUp:
      return key(event.key.vk, false);
    case abi::InputKind::kMouseMove: {
      // XTEST carries 16-bit deltas: a larger one goes in pieces.
      int64_t dx = event.pointer.x, dy = event.pointer.y;
      do {
        const int16_t sx = clampToInt16(dx), sy = clampToInt16(dy);
        xcb_test_fake_input(conn_, XCB_MOTION_NOTIFY, 1 /* relative */, XCB_CURRENT_TIME, XCB_NONE,
                            sx, sy, 0);
        dx -= sx;
        dy -= sy;
      } while (dx != 0 || dy != 0);
      return {};
    }
    case abi::InputKind::kMousePosition: {
      const auto x = static_cast<int64_t>(event.pointer.x) * width_ / event.pointer.ref_width;
      const auto y = static_cast<int64_t>(event.pointer.y) * height_ / event.pointer.ref_height;
      xcb_test_fake_input(conn_, XCB_MOTION_NOTIFY, 0 /* absolute */, XCB_CURRENT_TIME, root_,
                          clampToInt16(x), clampToInt16(y), 0);
      return {};
    }
    case abi::InputKind::kButtonDown:
      button(kXButton[event.button.button], true);
      return {};
    case abi::InputKind::kButtonUp:
      button(kXButton[event.button.button], false);
      return {};
    case abi::InputKind::kScroll:
      wheel(event.scroll.amount, scroll_, kWheelUp, kWheelDown);
      return {};
    case abi::InputKind::kHScroll:
      wheel(event.scroll.amount, hscroll_, kWheelRight, kWheelLeft);
      return {};
    case abi::InputKind::kText:
      return text(event.text.code_point);
    default:
      return makeError("xtest: takes no events of kind {}", event.kind);
  }
}

void XtestSink::releaseAll() {
  if (broken_) return;
  for (size_t kc = 0; kc < keycodes_down_.size(); ++kc)
    if (keycodes_down_.test(kc)) keyEvent(static_cast<uint8_t>(kc), false);
  vk_keycode_.fill(0);
  for (uint8_t b = 1; b < 32; ++b)
    if ((buttons_down_ >> b & 1) != 0) button(b, false);
  scroll_ = hscroll_ = 0;
  xcb_flush(conn_);
}

void XtestSink::flush() {
  if (!broken_) xcb_flush(conn_);
}

void XtestSink::sync() {
  if (broken_) return;
  std::free(xcb_get_input_focus_reply(conn_, xcb_get_input_focus(conn_), nullptr));
}

void XtestSink::readGeometry() {
  XReply<xcb_get_geometry_reply_t> g(
      xcb_get_geometry_reply(conn_, xcb_get_geometry(conn_, root_), nullptr));
  if (g && (g->width != width_ || g->height != height_)) {
    width_ = g->width;
    height_ = g->height;
    spdlog::info("xtest: root is now {}x{}", width_, height_);
  }
}

void XtestSink::poll() {
  if (broken_ || !checkConnection()) return;
  bool keymap = false, geometry = false;
  while (xcb_generic_event_t* event = xcb_poll_for_event(conn_)) {
    const uint8_t type = event->response_type & 0x7F;
    if (type == XCB_MAPPING_NOTIFY) {
      keymap |=
          reinterpret_cast<xcb_mapping_notify_event_t*>(event)->request == XCB_MAPPING_KEYBOARD;
    } else if (type == XCB_CONFIGURE_NOTIFY) {
      geometry |= reinterpret_cast<xcb_configure_notify_event_t*>(event)->window == root_;
    } else if (randr_ && type == randr_first_event_ + XCB_RANDR_SCREEN_CHANGE_NOTIFY) {
      geometry = true;
    }
    std::free(event);
  }
  if (keymap) {
    if (auto r = readKeymap(); !r) spdlog::warn("{}", r.error().message);
    // Our remaps are in the new mapping; a spare someone else took is no longer ours.
    std::erase_if(remaps_, [&](const Remap& r) {
      const uint32_t ks = keymap_[static_cast<size_t>(r.keycode - min_keycode_) * per_keycode_];
      return ks != (r.keysym == 0 ? kNoSymbol : r.keysym);
    });
  }
  if (geometry) readGeometry();
  restoreRemaps(false);
  xcb_flush(conn_);
}

}  // namespace funkhaus::input
