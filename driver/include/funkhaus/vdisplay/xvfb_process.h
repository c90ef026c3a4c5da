// XvfbProcess: one Xvfb server owned by the driver, started through ChildProcess with
// -displayfd and stopped with SIGTERM then SIGKILL, always reaped. Driver's main thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::vdisplay {

struct XvfbConfig {
  std::string binary = "Xvfb";  // found in PATH unless it contains a '/'
  uint32_t width = 0;
  uint32_t height = 0;
  std::optional<uint32_t> display;  // a fixed ":N"; default: the server picks a free one
  std::string auth_file;            // -auth FILE (Xauthority with the cookie); empty: none
  std::chrono::milliseconds start_timeout{10'000};
  // Called about every 50 ms while waiting for the server (the worker's heartbeat).
  std::function<void()> keepalive;
};

class XvfbProcess {
 public:
  // Starts `Xvfb [:N] -displayfd FD [-auth FILE] -nolisten tcp -noreset -br -dpi 96 -screen 0
  // WxHx24` in its own process group with PR_SET_PDEATHSIG (SIGTERM), no inherited fds but its
  // log, and waits until it reports its display number. On failure the error quotes its log.
  static Result<XvfbProcess> start(const XvfbConfig& config);

  XvfbProcess(XvfbProcess&& other) noexcept;
  XvfbProcess& operator=(XvfbProcess&& other) noexcept;
  XvfbProcess(const XvfbProcess&) = delete;
  XvfbProcess& operator=(const XvfbProcess&) = delete;
  ~XvfbProcess();  // stop()

  // SIGTERM, up to `grace` for it to exit, then SIGKILL; reaps it. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));
  // True once the process has exited (it is reaped then); never blocks.
  bool exited();

  pid_t pid() const { return process_ && process_->running() ? process_->pid() : -1; }
  uint32_t display() const { return display_; }
  // The tail of what the server wrote to stdout/stderr (for error messages).
  std::string logTail(size_t max_bytes = 1024) const;

 private:
  XvfbProcess(ChildProcess process, UniqueFd log, uint32_t display)
      : process_(std::move(process)), log_(std::move(log)), display_(display) {}
  // Why a server that exited during start-up is gone, for the error message.
  std::string exitReason() const;

  std::optional<ChildProcess> process_;  // empty once moved from
  UniqueFd log_;                         // memfd holding the server's output
  uint32_t display_ = 0;
};

}  // namespace funkhaus::vdisplay
