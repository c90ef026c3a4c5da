// RandR on an Xvfb screen: a mode with the CVT timing and the EDID property on its output.
#include "randr_mode.h"

#include <cstring>
#include <string>

#include "funkhaus/vdisplay/edid.h"

namespace funkhaus::vdisplay {

std::string modeName(const Mode& m) {
  return fmt::format("{}x{}_{}.{:02}", m.width, m.height, m.refresh_millihz / 1000,
                     (m.refresh_millihz % 1000) / 10);
}

Result<void> applyRandrMode(const RandrScreen& screen, const MonitorSpec& spec,
                            xcb_randr_mode_t* created_mode) {
  xcb_connection_t* conn = screen.conn;
  const xcb_window_t root = screen.root;
  const auto& sync = screen.sync;
  const Mode& m = spec.mode;
  const VideoTiming& t = spec.timing;
  auto resources = [&]() -> XPtr<xcb_randr_get_screen_resources_current_reply_t> {
    const auto cookie = xcb_randr_get_screen_resources_current(conn, root);
    if (!sync()) return nullptr;
    return XPtr<xcb_randr_get_screen_resources_current_reply_t>(
        xcb_randr_get_screen_resources_current_reply(conn, cookie, nullptr));
  };
  auto res = resources();
  if (!res || res->num_outputs < 1 || res->num_crtcs < 1)
    return makeError("RandR shows no output or CRTC");
  const xcb_randr_output_t output = xcb_randr_get_screen_resources_current_outputs(res.get())[0];
  const xcb_randr_crtc_t crtc = xcb_randr_get_screen_resources_current_crtcs(res.get())[0];
  const std::string name = modeName(m);

  // Reuse a mode of that name (the same mode again), else create it.
  xcb_randr_mode_t mode_id = XCB_NONE;
  {
    const auto* modes = xcb_randr_get_screen_resources_current_modes(res.get());
    const uint8_t* names = xcb_randr_get_screen_resources_current_names(res.get());
    size_t offset = 0;
    for (int i = 0; i < res->num_modes; ++i) {
      if (modes[i].name_len == name.size() &&
          std::memcmp(names + offset, name.data(), name.size()) == 0)
        mode_id = modes[i].id;
      offset += modes[i].name_len;
    }
  }
  const xcb_randr_mode_t previous = (*created_mode);
  if (mode_id == XCB_NONE) {
    xcb_randr_mode_info_t info{};
    info.width = static_cast<uint16_t>(m.width);
    info.height = static_cast<uint16_t>(m.height);
    info.dot_clock = static_cast<uint32_t>(t.pixel_clock_hz);
    info.hsync_start = static_cast<uint16_t>(t.h_active + t.h_front);
    info.hsync_end = static_cast<uint16_t>(t.h_active + t.h_front + t.h_sync);
    info.htotal = static_cast<uint16_t>(t.hTotal());
    info.vsync_start = static_cast<uint16_t>(t.v_active + t.v_front);
    info.vsync_end = static_cast<uint16_t>(t.v_active + t.v_front + t.v_sync);
    info.vtotal = static_cast<uint16_t>(t.vTotal());
    info.name_len = static_cast<uint16_t>(name.size());
    info.mode_flags = (t.h_sync_positive ? XCB_RANDR_MODE_FLAG_HSYNC_POSITIVE
                                         : XCB_RANDR_MODE_FLAG_HSYNC_NEGATIVE) |
                      (t.v_sync_positive ? XCB_RANDR_MODE_FLAG_VSYNC_POSITIVE
                                         : XCB_RANDR_MODE_FLAG_VSYNC_NEGATIVE);
    const auto create =
        xcb_randr_create_mode(conn, root, info, static_cast<uint32_t>(name.size()), name.c_str());
    if (auto s = sync(); !s) return s.error();
    xcb_generic_error_t* error = nullptr;
    XPtr<xcb_randr_create_mode_reply_t> created(xcb_randr_create_mode_reply(conn, create, &error));
    XPtr<xcb_generic_error_t> owned_error(error);
    if (!created)
      return makeError("RandR refused mode {} (X error {})", name, error ? error->error_code : 0);
    mode_id = created->mode;
    const auto add = xcb_randr_add_output_mode_checked(conn, output, mode_id);
    if (auto s = sync(); !s) return s.error();
    if (XPtr<xcb_generic_error_t> e(xcb_request_check(conn, add)); e)
      return makeError("RandR refused adding mode {} (X error {})", name, e->error_code);
    (*created_mode) = mode_id;
    res = resources();  // a new config timestamp
    if (!res) return makeError("RandR resources query failed");
  }
  const xcb_timestamp_t config_time = res->config_timestamp;
  const auto off = xcb_randr_set_crtc_config(conn, crtc, XCB_CURRENT_TIME, config_time, 0, 0,
                                             XCB_NONE, XCB_RANDR_ROTATION_ROTATE_0, 0, nullptr);
  const auto size = xcb_randr_set_screen_size_checked(
      conn, root, static_cast<uint16_t>(m.width), static_cast<uint16_t>(m.height),
      millimetresAt96Dpi(m.width), millimetresAt96Dpi(m.height));
  const auto on = xcb_randr_set_crtc_config(conn, crtc, XCB_CURRENT_TIME, config_time, 0, 0,
                                            mode_id, XCB_RANDR_ROTATION_ROTATE_0, 1, &output);
  const auto edid = xcb_randr_change_output_property_checked(
      conn, output, screen.edid_atom, XCB_ATOM_INTEGER, 8, XCB_PROP_MODE_REPLACE,
      static_cast<uint32_t>(spec.edid.size()), spec.edid.data());
  if (auto s = sync(); !s) return s.error();
  XPtr<xcb_randr_set_crtc_config_reply_t> off_reply(
      xcb_randr_set_crtc_config_reply(conn, off, nullptr));
  XPtr<xcb_randr_set_crtc_config_reply_t> on_reply(
      xcb_randr_set_crtc_config_reply(conn, on, nullptr));
  XPtr<xcb_generic_error_t> size_error(xcb_request_check(conn, size));
  XPtr<xcb_generic_error_t> edid_error(xcb_request_check(conn, edid));
  if (!off_reply || off_reply->status != XCB_RANDR_SET_CONFIG_SUCCESS)
    return makeError("RandR refused to disable the CRTC (status {})",
                     off_reply ? off_reply->status : -1);
  if (size_error)
    return makeError("RandR refused screen size {}x{} (X error {})", m.width, m.height,
                     size_error->error_code);
  if (!on_reply || on_reply->status != XCB_RANDR_SET_CONFIG_SUCCESS)
    return makeError("RandR refused mode {} on the CRTC (status {})", name,
                     on_reply ? on_reply->status : -1);
  if (edid_error)
    return makeError("RandR refused the EDID property (X error {})", edid_error->error_code);
  // The mode we made for the previous size is no longer used: drop it.
  if (previous != XCB_NONE && previous != mode_id) {
    xcb_randr_delete_output_mode(conn, output, previous);
    xcb_randr_destroy_mode(conn, previous);
    if ((*created_mode) == previous) (*created_mode) = XCB_NONE;
    xcb_flush(conn);
  }
  if ((*created_mode) == XCB_NONE) (*created_mode) = mode_id;
  return {};
}

}  // namespace funkhaus::vdisplay
