// funkhausd's core: one session's worker set (spawn, watch, restart), the control socket and
// the systemd notifications, all on one Boost.Asio event loop thread.
#pragma once

#include <memory>
#include <string>

#include "funkhaus/common/clock.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/session_source.h"

namespace funkhaus::supervisor {

struct SupervisorOptions {
  Config config;
  RunMode mode = RunMode::kUser;
  std::string config_path;  // re-read on SIGHUP ("" = none)
  bool config_required = false;
  std::string worker_dir;      // where funkhaus-capture etc. live
  std::string control_socket;  // resolved path
};

// The control socket path for a mode when the config names none.
std::string defaultControlSocket(RunMode mode);

class Supervisor {
 public:
  Supervisor(SupervisorOptions options, std::unique_ptr<SessionSource> sessions);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs until SIGTERM/SIGINT (returns 0) or until the restart policy gives up (returns 1).
  int run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace funkhaus::supervisor
