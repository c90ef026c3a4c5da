// SessionApps: the launched app's process group, started and stopped.
#include "funkhaus/supervisor/session_apps.h"

#include <signal.h>

#include <spdlog/spdlog.h>

namespace funkhaus::supervisor {

Result<std::optional<AppLaunch>> appLaunch(const GamestreamConfig& config, uint32_t id,
                                           const SessionInfo& session,
                                           const std::optional<Credentials>& credentials,
                                           const std::string& display,
                                           const std::string& xauthority,
                                           const std::string& pulse_server) {
  if (id == 1) return std::optional<AppLaunch>();
  for (size_t i = 0; i < config.apps.size(); ++i) {
    if (gamestreamAppId(i) != id) continue;
    AppLaunch launch{id,         config.apps[i].title, config.apps[i].command,
                     session.id, session.environment,  credentials};
    if (!display.empty()) launch.environment["DISPLAY"] = display;
    if (!xauthority.empty()) launch.environment["XAUTHORITY"] = xauthority;
    if (!pulse_server.empty()) launch.environment["PULSE_SERVER"] = pulse_server;
    launch.environment.emplace("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games");
    return std::optional<AppLaunch>(std::move(launch));
  }
  return makeError("this host has no app {}", id);
}

SessionApps::~SessionApps() {
  // funkhausd is going: nothing of the session's apps outlives it.
  if (current_) signalGroup(*current_, SIGKILL);
  for (Running& r : stopping_) signalGroup(r, SIGKILL);
}

const std::string& SessionApps::runningTitle() const {
  static const std::string kNone;
  return current_ ? current_->launch.title : kNone;
}

bool SessionApps::runs(uint32_t id, const std::string& session_id) const {
  return current_ && current_->launch.id == id && current_->launch.session_id == session_id &&
         current_->process.running();
}

Result<void> SessionApps::start(AppLaunch app) {
  stop("another app is launched");
  ChildSpec spec;
  spec.program = "/bin/sh";
  spec.args = {"-c", app.command};
  spec.environment = app.environment;
  spec.credentials = app.credentials;
  spec.own_process_group = true;  // stopped as a group: what the app starts goes with it
  auto process = ChildProcess::spawn(spec);
  if (!process) return makeError("app '{}': {}", app.title, process.error().message);
  spdlog::info("app '{}' started in session {} (pid {}): {}", app.title, app.session_id,
               process->pid(), app.command);
  current_.emplace(Running{std::move(app), std::move(*process), std::nullopt});
  return {};
}

void SessionApps::stop(const std::string& why) {
  if (!current_) return;
  Running r = std::move(*current_);
  current_.reset();
  if (!r.process.running()) return reap(r);
  spdlog::info("app '{}' (pid {}): stopping: {}", r.launch.title, r.process.pid(), why);
  signalGroup(r, SIGTERM);
  r.kill_at = clock_.now() + grace_;
  stopping_.push_back(std::move(r));
}

void SessionApps::tick() {
  if (current_ && current_->process.poll()) {
    reap(*current_);
    current_.reset();
  }
  const TimePoint now = clock_.now();
  for (auto it = stopping_.begin(); it != stopping_.end();) {
    if (it->process.poll()) {
      signalGroup(*it, SIGKILL);  // the shell went; whatever it left in the group goes too
      it = stopping_.erase(it);
      continue;
    }
    if (it->kill_at && now >= *it->kill_at) {
      spdlog::warn("app '{}' (pid {}): still running after the grace period: killed",
                   it->launch.title, it->process.pid());
      signalGroup(*it, SIGKILL);
      it->kill_at.reset();
    }
    ++it;
  }
}

void SessionApps::signalGroup(Running& r, int sig) {
  if (r.process.pid() > 0) ::kill(-r.process.pid(), sig);  // the group it leads
}

void SessionApps::reap(Running& r) {
  if (const auto& status = r.process.exitStatus())
    spdlog::info("app '{}' ended ({})", r.launch.title, describeExit(*status));
}

}  // namespace funkhaus::supervisor
