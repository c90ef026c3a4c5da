// The Xvfb monitor backend: each monitor is its own Xvfb server; frames go from the X server
// straight into the ring slots (MIT-SHM GetImage into the attached ring memfd) when XDamage
// reports a change, repeatLast() otherwise. Used on the driver's main thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "funkhaus/vdisplay/monitor.h"

namespace funkhaus::vdisplay {

struct XvfbBackendOptions {
  std::string xvfb_binary = "Xvfb";
  std::chrono::milliseconds start_timeout{10'000};
  // A grab or X request unanswered this long means the server hangs: it is killed and restarted.
  std::chrono::milliseconds reply_timeout{2'000};
  // Where each monitor's Xvfb gets its Xauthority file (-auth; clients set XAUTHORITY to it).
  // Empty: no X authorization, any local user may connect to the displays.
  std::string auth_dir;
  FrameObserver on_frame;           // every published frame
  std::function<void()> keepalive;  // called while waiting on an X server (worker heartbeat)
};

std::unique_ptr<MonitorBackend> createXvfbBackend(const XvfbBackendOptions& options);

}  // namespace funkhaus::vdisplay
