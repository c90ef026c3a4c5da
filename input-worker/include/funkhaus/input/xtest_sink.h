// XtestSink: input into the session's X display through the XTEST extension: keys by keysym
// (mapped to the server's own keycodes, so the session's keymap holds), pointer, buttons,
// wheel and Unicode text. Used on funkhaus-input's main thread.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "funkhaus/input/input_sink.h"

struct xcb_connection_t;

namespace funkhaus::input {

struct XtestOptions {
  std::string display;                     // empty: $DISPLAY
  bool keyboard_mouse = true;              // takes keys, pointer, buttons and wheel (text always)
  uint64_t remap_hold_ns = 2'000'000'000;  // see XtestSink (Unicode text)
};

// Unicode text: a code point whose keysym no keycode has is typed through a spare keycode (one
// without keysyms): ChangeKeyboardMapping gives it the keysym in every column, then a press and
// release. Clients translate a key event with the mapping they fetch when they handle it (after
// the MappingNotify our change sent them), so restoring the keycode right after the release
// would race them and they would see NoSymbol. A remapped keycode therefore stays mapped until
// it is needed for another keysym (least recently used first) or has been idle for
// `remap_hold_ns`, and all of them are restored when the sink closes.
class XtestSink final : public InputSink {
 public:
  // Errors: kUnsupported when there is no display or it lacks XTEST; kFailure otherwise.
  static Result<std::unique_ptr<XtestSink>> create(const XtestOptions& options);
  ~XtestSink() override;
  XtestSink(const XtestSink&) = delete;
  XtestSink& operator=(const XtestSink&) = delete;

  const char* name() const override { return "xtest"; }
  bool takes(abi::InputKind kind) const override;
  Result<void> apply(const abi::InputEvent& event) override;
  void releaseAll() override;
  void flush() override;
  void poll() override;
  uint32_t devices() const override { return broken_ ? 0 : 1; }

  // The root window's size, which absolute positions are scaled to.
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  const std::string& display() const { return display_; }
  // Waits until the server has processed every request sent so far (one round trip): what
  // another client sees afterwards includes them. For tests; the worker never waits.
  void sync();

 private:
  struct KeyLookup {
    uint8_t keycode = 0;  // 0: none
    uint8_t column = 0;   // 0 unshifted, 1 shifted
  };
  struct Remap {
    uint8_t keycode = 0;
    uint32_t keysym = 0;  // 0: free (restored)
    uint64_t used_ns = 0;
  };

  explicit XtestSink(const XtestOptions& options) : options_(options) {}
  Result<void> connect();
  Result<void> readKeymap();
  void readGeometry();
  KeyLookup lookup(uint32_t keysym) const;
  // A keycode that types `keysym` in column 0, remapping a spare one if needed; 0 if none.
  uint8_t remapFor(uint32_t keysym);
  void setMapping(uint8_t keycode, uint32_t keysym);
  void restoreRemaps(bool all);

  Result<void> key(uint32_t vk, bool down);
  Result<void> text(uint32_t code_point);
  void button(uint8_t x_button, bool down);
  void wheel(int32_t amount, int32_t& accumulated, uint8_t positive, uint8_t negative);
  void keyEvent(uint8_t keycode, bool down);
  Result<void> checkConnection();

  XtestOptions options_;
  std::string display_;
  xcb_connection_t* conn_ = nullptr;
  uint32_t root_ = 0;
  uint32_t width_ = 0, height_ = 0;
  uint8_t randr_first_event_ = 0;
  bool randr_ = false;
  bool broken_ = false;

  // The server's core keyboard mapping, keycodes min_keycode_..max_keycode_.
  uint8_t min_keycode_ = 8, max_keycode_ = 255, per_keycode_ = 0;
  std::vector<uint32_t> keymap_;
  std::unordered_map<uint32_t, KeyLookup> by_keysym_;  // columns 0 and 1 only
  std::vector<Remap> remaps_;                          // the spare keycodes we may remap

  std::array<uint8_t, 256> vk_keycode_{};  // the keycode each VK pressed went down on
  std::bitset<256> keycodes_down_;
  uint32_t buttons_down_ = 0;         // bit = X button
  int32_t scroll_ = 0, hscroll_ = 0;  // 120ths not yet sent as a click
};

}  // namespace funkhaus::input
