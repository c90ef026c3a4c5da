// XClient: a second X client that changes the screen the way other applications would (root
// colour, rectangles, pointer, RandR size). Used by the X11 capture tests.
#pragma once

#include <xcb/randr.h>
#include <xcb/xcb.h>

#include <cstdlib>
#include <string>

namespace funkhaus::capture::test {

class XClient {
 public:
  explicit XClient(const std::string& display) {
    conn_ = xcb_connect(display.c_str(), nullptr);
    if (xcb_connection_has_error(conn_) == 0)
      root_ = xcb_setup_roots_iterator(xcb_get_setup(conn_)).data->root;
  }
  ~XClient() { xcb_disconnect(conn_); }
  bool ok() const { return xcb_connection_has_error(conn_) == 0; }

  // Paints the root window's background (what xsetroot -solid does) and waits until done.
  void fillRoot(uint32_t rgb) {
    xcb_change_window_attributes(conn_, root_, XCB_CW_BACK_PIXEL, &rgb);
    xcb_clear_area(conn_, 0, root_, 0, 0, 0, 0);
    sync();
  }

  // A small rectangle in a GC of its own, to make damage cheaply.
  void fillRect(uint32_t rgb, int16_t x, int16_t y, uint16_t w, uint16_t h) {
    if (gc_ == 0) {
      gc_ = xcb_generate_id(conn_);
      xcb_create_gc(conn_, gc_, root_, 0, nullptr);
    }
    xcb_change_gc(conn_, gc_, XCB_GC_FOREGROUND, &rgb);
    const xcb_rectangle_t r{x, y, w, h};
    xcb_poly_fill_rectangle(conn_, root_, gc_, 1, &r);
    sync();
  }

  void warpPointer(int16_t x, int16_t y) {
    xcb_warp_pointer(conn_, XCB_NONE, root_, 0, 0, 0, 0, x, y);
    sync();
  }

  // Resizes the screen with RandR as xrandr --fb would: the CRTC off, then the new size.
  bool resizeScreen(uint16_t width, uint16_t height) {
    free(xcb_randr_query_version_reply(conn_, xcb_randr_query_version(conn_, 1, 2), nullptr));
    auto* res = xcb_randr_get_screen_resources_reply(
        conn_, xcb_randr_get_screen_resources(conn_, root_), nullptr);
    if (res == nullptr) return false;
    for (int i = 0; i < res->num_crtcs; ++i)
      free(xcb_randr_set_crtc_config_reply(
          conn_,
          xcb_randr_set_crtc_config(conn_, xcb_randr_get_screen_resources_crtcs(res)[i],
                                    XCB_CURRENT_TIME, res->config_timestamp, 0, 0, XCB_NONE,
                                    XCB_RANDR_ROTATION_ROTATE_0, 0, nullptr),
          nullptr));
    free(res);
    xcb_generic_error_t* e = xcb_request_check(
        conn_,
        xcb_randr_set_screen_size_checked(conn_, root_, width, height, width / 4, height / 4));
    free(e);
    return e == nullptr;
  }

  void sync() { free(xcb_get_input_focus_reply(conn_, xcb_get_input_focus(conn_), nullptr)); }

 private:
  xcb_connection_t* conn_ = nullptr;
  xcb_window_t root_ = 0;
  xcb_gcontext_t gc_ = 0;
};

}  // namespace funkhaus::capture::test
