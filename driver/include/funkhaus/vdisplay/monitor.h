// The monitor backend seam: a Monitor is one virtual screen publishing into its frame ring; a
// MonitorBackend makes them (Xvfb today; a fake in the unit tests; Wayland/evdi later).
// Used on the driver's main thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/vdisplay/edid.h"
#include "funkhaus/vdisplay/protocol.h"

namespace funkhaus::vdisplay {

// Everything a backend needs to build or re-mode a monitor; validated by the driver.
struct MonitorSpec {
  uint32_t id = 0;
  Mode mode;
  uint32_t flags = 0;     // abi::kVdisplayMonitor*
  uint32_t fb_width = 0;  // framebuffer, >= mode
  uint32_t fb_height = 0;
  VideoTiming timing;         // CVT-RB timing of the mode
  std::vector<uint8_t> edid;  // 128 or 256 bytes
};

struct MonitorCounters {
  uint64_t frames_out = 0;  // frames published (grabs and repeats)
  uint64_t grabs = 0;       // frames grabbed from the screen
  uint64_t repeats = 0;     // repeatLast publications (nothing changed)
  uint64_t drops = 0;       // frames not published: no free slot in the ring
  uint64_t errors = 0;      // failed grabs, X server deaths, failed restarts
  uint64_t restarts = 0;    // X server restarts (crash, hang or a mode past the framebuffer)

  MonitorCounters& operator+=(const MonitorCounters& o) {
    frames_out += o.frames_out;
    grabs += o.grabs;
    repeats += o.repeats;
    drops += o.drops;
    errors += o.errors;
    restarts += o.restarts;
    return *this;
  }
};

class Monitor {
 public:
  // Stops the screen (X server stopped and reaped) and detaches from the ring.
  virtual ~Monitor() = default;

  virtual uint32_t displayNumber() const = 0;
  // The Xauthority file clients need to connect to the display ("" if none is needed).
  virtual std::string xauthority() const = 0;
  virtual uint32_t generation() const = 0;  // the ring generation of the frames published now
  virtual uint32_t fbWidth() const = 0;
  virtual uint32_t fbHeight() const = 0;
  // Switches to next.mode (the driver checked bounds and ring capacity). Returns
  // abi::kVdisplayModeInPlace or kVdisplayModeRestarted; frames after it carry the new
  // geometry and a new generation. An error with the generation unchanged: nothing changed.
  // An error with a new generation: the monitor is in the new mode but its screen is down for
  // now; it keeps trying to bring it back on its own.
  virtual Result<uint32_t> setMode(const MonitorSpec& next) = 0;

  // Event-loop hooks: an fd to poll for input (-1: none), the CLOCK_MONOTONIC time by which
  // service() wants to run again, and service() itself (call when the fd is readable or the
  // time has come; it never blocks for long).
  virtual int pollFd() const = 0;
  virtual uint64_t nextWakeNs() const = 0;
  virtual void service(uint64_t now_ns) = 0;

  virtual MonitorCounters counters() const = 0;
};

class MonitorBackend {
 public:
  virtual ~MonitorBackend() = default;
  virtual const char* name() const = 0;
  virtual uint32_t capabilities() const = 0;  // abi::kVdisplayCap*
  // Builds a monitor that publishes into `producer` (attached, checked big enough). Returns
  // once the screen exists and its first frame is published, or fails having created nothing.
  virtual Result<std::unique_ptr<Monitor>> create(const MonitorSpec& spec,
                                                  FrameProducer producer) = 0;
};

// Called for each frame a monitor publishes (CLOCK_MONOTONIC): feeds the status page's fps,
// latency and stage time. A grab's capture time is when the driver learned of the change (the
// damage it read), so it is also the grab stage's start; a repeat (nothing changed) passes 0:
// it counts for fps only.
using FrameObserver = std::function<void(uint64_t capture_ns, uint64_t publish_ns)>;

// The BGRA geometry the driver publishes a mode in: one plane, stride width * 4 (what MIT-SHM
// GetImage writes for a 24-bit depth, 32 bpp screen).
abi::FrameGeometry bgraGeometry(uint32_t width, uint32_t height);

}  // namespace funkhaus::vdisplay
