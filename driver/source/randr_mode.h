// RandR on one Xvfb screen: gives it a mode (a RandR mode with the CVT timing, so clients see
// the refresh rate) and the EDID property, dropping the mode made for the size before. Used by
// the Xvfb backend on the driver's main thread.
#pragma once

#include <xcb/randr.h>
#include <xcb/xcb.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "funkhaus/common/result.h"
#include "funkhaus/vdisplay/monitor.h"

namespace funkhaus::vdisplay {

// An xcb reply or error, freed with free().
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using XPtr = std::unique_ptr<T, FreeDeleter>;

// The screen to change: its connection, root window, the EDID atom, and a bounded wait until
// the server has processed every request sent so far.
struct RandrScreen {
  xcb_connection_t* conn = nullptr;
  xcb_window_t root = XCB_NONE;
  xcb_atom_t edid_atom = XCB_NONE;
  std::function<Result<void>()> sync;
};

// "1920x1080_60.00": the RandR name of a mode.
std::string modeName(const Mode& mode);

// Gives the screen `spec`'s mode and EDID. Works for any mode within the framebuffer.
// `*created_mode` is the mode made last time (XCB_NONE: none); it is dropped when unused and
// replaced by the one in use.
Result<void> applyRandrMode(const RandrScreen& screen, const MonitorSpec& spec,
                            xcb_randr_mode_t* created_mode);

}  // namespace funkhaus::vdisplay
