// runVdisplay(): the funkhaus-vdisplay process — a stage on the one worker runtime whose turns
// poll the host connections and the monitors' X connections. Runs on the main thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace funkhaus::vdisplay {

struct VdisplayOptions {
  std::string listen_path;  // standalone: accept hosts on this SOCK_SEQPACKET socket
  uint32_t max_monitors = 8;
  uint32_t watchdog_ms = 3000;
  std::string xvfb_binary = "Xvfb";
  std::optional<uint32_t> serial_seed;  // default: derived from pid and start time
  // Parent of the driver's private directory (Xauthority files); default $XDG_RUNTIME_DIR,
  // else /tmp.
  std::string runtime_dir;
};

inline constexpr uint32_t kMinWatchdogMs = 100;
inline constexpr uint32_t kMaxWatchdogMs = 600'000;
inline constexpr uint32_t kMaxHosts = 64;

// Checks the options (ranges, socket path length). The error names the option.
bool validateOptions(const VdisplayOptions& options, std::string* error);

// Supervised when fd 3 is funkhausd's channel (the worker runtime: hello, status page, ready,
// heartbeats, stop); the control socket (FdRole::kDevice) is a host connection. With --listen
// (supervised or not) hosts also connect there; without funkhausd, --listen is required. Runs until
// SIGTERM/SIGINT or a stop command; every monitor is removed (X servers stopped) before it returns
// an exit code.
int runVdisplay(const VdisplayOptions& options);

}  // namespace funkhaus::vdisplay
