// SoundServer: the session's sound server. A session whose environment reaches one (PULSE_SERVER,
// or $XDG_RUNTIME_DIR/pulse/native answering a connect) keeps it; a session without one (the
// headless default) gets a private `pulseaudio` that funkhausd starts as the session's user in a
// directory of its own (socket, HOME, XDG dirs: it writes nowhere else), restarts with backoff
// when it dies (never escalating: video goes on), and stops with the session. No libpulse here:
// a connect() on the unix socket is all funkhausd asks of a server. Injected clock; funkhausd's
// event loop thread (tick() reaps and restarts).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/restart_policy.h"

namespace funkhaus::supervisor {

// The unix socket at `path` accepts a connection (a server listens there).
bool unixSocketAnswers(const std::string& path);

// The sound server a session's environment reaches, as a PULSE_SERVER value: its PULSE_SERVER
// when set, else "unix:$XDG_RUNTIME_DIR/pulse/native" when `answers` says that socket answers;
// nullopt when it has none.
std::optional<std::string> sessionSoundServer(
    const std::map<std::string, std::string>& environment,
    const std::function<bool(const std::string&)>& answers = unixSocketAnswers);

// How funkhausd's own server for a session runs.
struct SoundServerLaunch {
  std::string dir;                         // private, made by start(): the socket is dir/native
  std::optional<Credentials> credentials;  // the session's user; unset: funkhausd's own
  std::string path = "/usr/local/bin:/usr/bin:/bin";  // PATH (pulseaudio is looked up in it)
};

// The pulseaudio it runs: no default script, only the native protocol on dir/native (anonymous
// auth: the directory is the session user's alone) and an always-present sink; no idle exit,
// no exit on request; HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, XDG_STATE_HOME and XDG_CACHE_HOME
// inside `dir`. Its log goes to funkhausd's stderr.
ChildSpec pulseaudioSpec(const SoundServerLaunch& launch);

class SoundServer {
 public:
  enum class State {
    kNone,        // no server: the set has no worker that needs one, or audio is off
    kExternal,    // the session's own (not started by funkhaus)
    kStarting,    // ours, started, its socket does not answer yet
    kRunning,     // ours, answering
    kRestarting,  // ours died: started again after the backoff
    kFailed,      // ours cannot run (pulseaudio missing, its directory not made)
  };

  SoundServer(const Clock& clock, const RestartPolicyConfig& backoff, Duration grace)
      : clock_(clock), backoff_config_(backoff), grace_(grace) {}
  ~SoundServer();
  SoundServer(const SoundServer&) = delete;
  SoundServer& operator=(const SoundServer&) = delete;

  // The session has its own server at `address` (a PULSE_SERVER value).
  void useExternal(std::string address);
  // Starts funkhausd's own: makes launch.dir (0700, the session user's; a leftover is removed),
  // spawns pulseaudio. An error leaves the state kFailed with the reason.
  Result<void> start(SoundServerLaunch launch);
  // Stops ours (SIGTERM, `grace`, SIGKILL; waits for it) and removes its directory; forgets an
  // external one. The state is kNone after.
  void stop(const std::string& why);
  // Reaps a server that died and starts it again when its backoff is over (backoff from the
  // restart policy's initial delay, doubling to its cap; reset once it stayed up stable_after);
  // notices when a started one answers.
  void tick();

  State state() const { return state_; }
  // The PULSE_SERVER value ("unix:/dir/native"), or "" with none.
  const std::string& address() const { return address_; }
  bool ours() const { return launch_.has_value(); }
  pid_t pid() const { return process_ ? process_->pid() : 0; }
  int restarts() const { return restarts_; }
  const std::optional<ExitStatus>& lastExit() const { return last_exit_; }
  const std::string& failure() const { return failure_; }
  // kRestarting: how long until the next start.
  Duration restartIn() const;

 private:
  bool spawn();

  const Clock& clock_;
  RestartPolicyConfig backoff_config_;
  Duration grace_;
  State state_ = State::kNone;
  std::string address_;
  std::optional<SoundServerLaunch> launch_;  // ours
  std::optional<ChildProcess> process_;
  TimePoint started_at_{};
  TimePoint restart_at_{};
  Duration backoff_{};
  int restarts_ = 0;
  std::optional<ExitStatus> last_exit_;
  std::string failure_;
};

const char* toString(SoundServer::State state);

}  // namespace funkhaus::supervisor
