// SessionApps: the app a GameStream client launched ([[gamestream.apps]] command). It runs with
// /bin/sh -c in the session, as the session's user with the session's environment (and the
// virtual monitor's DISPLAY/XAUTHORITY when there is one), in a process group of its own, with no
// capabilities; it is stopped — SIGTERM to its group, SIGKILL after the grace period — when the
// client cancels, another app is launched, the session ends, or funkhausd stops. At most one runs.
// Injected clock; funkhausd's event loop thread (tick() reaps).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/session_source.h"

namespace funkhaus::supervisor {

struct AppLaunch {
  uint32_t id = 0;
  std::string title;
  std::string command;  // for /bin/sh -c
  std::string session_id;
  std::map<std::string, std::string> environment;  // the whole environment
  std::optional<Credentials> credentials;          // unset: funkhausd's own (user mode)
};

// What app `id` runs in session `session`: nullopt for Desktop (id 1: nothing runs), an error
// for an id the config has no app for. The environment is the session's, with the virtual
// monitor's `display`/`xauthority` when given, the PULSE_SERVER of the sound server funkhausd
// started for the session (`pulse_server`, when given) and a PATH when the session has none.
Result<std::optional<AppLaunch>> appLaunch(const GamestreamConfig& config, uint32_t id,
                                           const SessionInfo& session,
                                           const std::optional<Credentials>& credentials,
                                           const std::string& display,
                                           const std::string& xauthority,
                                           const std::string& pulse_server = {});

class SessionApps {
 public:
  SessionApps(const Clock& clock, Duration grace) : clock_(clock), grace_(grace) {}
  ~SessionApps();
  SessionApps(const SessionApps&) = delete;
  SessionApps& operator=(const SessionApps&) = delete;

  // Starts `app`; one that still runs is stopped first (it gets its grace period).
  Result<void> start(AppLaunch app);
  // Stops the running app (no-op if none).
  void stop(const std::string& why);
  // Reaps what exited, kills what outlived its grace period.
  void tick();

  // The app that runs (id 0: none).
  uint32_t runningId() const { return current_ ? current_->launch.id : 0; }
  const std::string& runningTitle() const;
  // Its process (the shell leading its process group), 0 when none runs.
  pid_t runningPid() const { return current_ ? current_->process.pid() : 0; }
  // The app and the session it was launched in are still the running ones.
  bool runs(uint32_t id, const std::string& session_id) const;

 private:
  struct Running {
    AppLaunch launch;
    ChildProcess process;
    std::optional<TimePoint> kill_at;  // set once asked to stop
  };
  void signalGroup(Running& r, int sig);
  void reap(Running& r);

  const Clock& clock_;
  Duration grace_;
  std::optional<Running> current_;
  std::vector<Running> stopping_;  // asked to stop, not gone yet
};

}  // namespace funkhaus::supervisor
