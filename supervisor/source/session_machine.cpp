// SessionMachine: the session's worker set, its switches, escalations and shutdown.
#include "funkhaus/supervisor/session_machine.h"

#include <spdlog/spdlog.h>

namespace funkhaus::supervisor {

namespace {

WorkerTimings timingsOf(const Config& config) {
  WorkerTimings t;
  t.heartbeat_timeout = config.heartbeat_timeout;
  t.stop_grace = config.stop_grace;
  return t;
}

}  // namespace

const char* toString(SessionMachine::State state) {
  switch (state) {
    case SessionMachine::State::kNoSession:
      return "no session";
    case SessionMachine::State::kRunning:
      return "running";
    case SessionMachine::State::kSwitching:
      return "switching";
    case SessionMachine::State::kRestartingSet:
      return "restarting the set";
    case SessionMachine::State::kShuttingDown:
      return "shutting down";
    case SessionMachine::State::kDone:
      return "done";
  }
  return "?";
}

SessionMachine::SessionMachine(const Config& config, ProcessLauncher& launcher, const Clock& clock,
                               ServiceNotifier& notifier, Hooks& hooks)
    : config_(config),
      launcher_(launcher),
      clock_(clock),
      notifier_(notifier),
      hooks_(hooks),
      escalation_(config.restart) {}

SessionMachine::~SessionMachine() = default;

WorkerProcess* SessionMachine::find(std::string_view name) const {
  for (const auto& w : workers_)
    if (w->name() == name) return w.get();
  for (const auto& w : host_)
    if (w->name() == name) return w.get();
  return nullptr;
}

bool SessionMachine::isHost(const WorkerProcess& worker) const {
  return worker.spec().scope == Scope::kHost;
}

void SessionMachine::startHost() {
  if (host_started_ || state_ == State::kShuttingDown || state_ == State::kDone) return;
  host_started_ = true;
  WorkerProcess::Delegate& delegate = *this;
  for (const auto& name : supervisor::hostWorkers(config_))
    if (const WorkerSpec* spec = findWorker(name))
      host_.push_back(std::make_unique<WorkerProcess>(*spec, config_.restart, timingsOf(config_),
                                                      launcher_, clock_, delegate));
  if (!host_.empty()) spdlog::info("starting {} host worker(s)", host_.size());
  // No status update here: READY waits for the session's set (switchTo and tick say it).
  for (const auto& w : host_) w->start();
}

void SessionMachine::setConfig(const Config& config) { config_ = config; }

void SessionMachine::refresh(SessionSource& sessions, const char* why) {
  if (state_ == State::kShuttingDown || state_ == State::kDone) return;
  auto next = sessions.current();
  if (!next) {
    spdlog::error("{}: {} (keeping the current session)", why, next.error().message);
    return;
  }
  const std::optional<SessionInfo> current =
      state_ == State::kSwitching
          ? pending_
          : (session_.id.empty() ? std::nullopt : std::optional<SessionInfo>(session_));
  if (*next == current) return;
  if (*next)
    spdlog::info("{}: now session {} of user {} ({}): moving the workers", why, (*next)->id,
                 (*next)->user, (*next)->klass);
  else
    spdlog::info("{}: no active session: stopping the workers", why);
  switchTo(*next);
}

void SessionMachine::switchTo(const std::optional<SessionInfo>& next) {
  if (state_ == State::kShuttingDown || state_ == State::kDone) return;
  if (state_ == State::kNoSession) {
    if (!next) return updateStatus();
    session_ = *next;
    workers_.clear();
    WorkerProcess::Delegate& delegate = *this;
    for (const auto& name : config_.workers)
      if (const WorkerSpec* spec = findWorker(name))  // the config checked every name
        workers_.push_back(std::make_unique<WorkerProcess>(
            *spec, config_.restart, timingsOf(config_), launcher_, clock_, delegate));
    spdlog::info("session {} ({}, {}) of user {} (uid {}): starting {} workers", session_.id,
                 session_.type, session_.klass, session_.user, session_.uid, workers_.size());
    state_ = State::kRunning;
    startSet();
    return updateStatus();
  }
  hooks_.setEnding();  // the old session's monitor goes before its workers
  pending_ = next;
  if (state_ == State::kSwitching || state_ == State::kRestartingSet) {
    state_ = State::kSwitching;  // the running stop picks up the newest target
    return updateStatus();
  }
  state_ = State::kSwitching;
  stopSet();
  continueIfGone();
  updateStatus();
}

void SessionMachine::restartSet() {
  if (state_ != State::kRunning) return;  // a switch or shutdown starts fresh anyway
  if (!escalation_.allowSessionRestart(clock_.now())) {
    spdlog::critical(
        "too many session restarts within {} s: giving up so systemd can take over",
        std::chrono::duration_cast<std::chrono::seconds>(config_.restart.window).count());
    return shutdown(1);
  }
  spdlog::warn("session {}: restarting every worker on fresh rings", session_.id);
  hooks_.setEnding();
  state_ = State::kRestartingSet;
  stopSet();
  continueIfGone();
}

void SessionMachine::shutdown(int exit_code) {
  if (state_ == State::kShuttingDown || state_ == State::kDone) return;
  exit_code_ = exit_code;
  hooks_.setEnding();
  state_ = State::kShuttingDown;
  stopSet();
  continueIfGone();  // the host set stops once the session's is gone
}

void SessionMachine::tick() {
  if (state_ == State::kRunning)
    for (const auto& w : workers_) w->tick();
  else
    for (const auto& w : workers_)
      if (w->running()) w->tick();  // grace periods only: nothing new starts now
  const bool host_runs = state_ != State::kShuttingDown && state_ != State::kDone;
  for (size_t i = 0; i < host_.size(); ++i)  // by index: a tick may end in a shutdown
    if (host_runs || host_[i]->running()) host_[i]->tick();
  updateStatus();
}

void SessionMachine::startSet() {
  // Fresh rings for every set: no frame of a previous user, and nothing a crash poisoned.
  if (auto plan = hooks_.openPlan(session_); !plan) {
    for (const auto& w : workers_) w->fail("session rings: " + plan.error().message);
    return;
  }
  for (const auto& w : workers_)  // start order
    if (!hooks_.startsLater(*w)) w->start();
}

void SessionMachine::stopSet() {
  for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) (*it)->stop();
}

bool SessionMachine::allGone() const {
  for (const auto& w : workers_)
    if (w->running()) return false;
  return true;
}

bool SessionMachine::hostGone() const {
  for (const auto& w : host_)
    if (w->running()) return false;
  return true;
}

// Once the stopping set is gone: what the state said comes next. May destroy every worker.
void SessionMachine::continueIfGone() {
  if (continuing_ || !allGone()) return;
  continuing_ = true;
  switch (state_) {
    case State::kSwitching: {
      hooks_.closePlan();
      auto next = std::move(pending_);
      pending_.reset();
      workers_.clear();
      session_ = SessionInfo{};
      state_ = State::kNoSession;
      if (next) switchTo(*next);
      break;
    }
    case State::kRestartingSet:
      hooks_.closePlan();
      state_ = State::kRunning;
      startSet();
      break;
    case State::kShuttingDown:
      // The session's set is gone: now the host set, then done.
      if (!host_stopping_) {
        host_stopping_ = true;
        for (auto it = host_.rbegin(); it != host_.rend(); ++it) (*it)->stop();
      }
      if (!hostGone()) break;
      state_ = State::kDone;
      hooks_.closePlan();
      hooks_.finished(exit_code_);
      break;
    case State::kNoSession:
    case State::kRunning:
    case State::kDone:
      break;
  }
  continuing_ = false;
}

void SessionMachine::updateStatus() {
  // Host workers do not hold READY back; one that is not running is named in the status.
  std::string host;
  for (const auto& w : host_)
    if (w->state() != WorkerState::kRunning)
      host += (host.empty() ? "" : ", ") + w->name() + " " + toString(w->state());
  if (!host.empty()) host = "; host: " + host;
  if (state_ == State::kNoSession) {
    // Nothing to wait for: funkhausd is up and watching for a session.
    if (!notified_ready_) {
      notified_ready_ = true;
      notifier_.ready();
    }
    const std::string status = "waiting for a session" + host;
    if (status != last_status_) notifier_.status(last_status_ = status);
    return;
  }
  std::string degraded;
  bool all_ready = !workers_.empty();
  for (const auto& w : workers_) {
    if (w->state() != WorkerState::kRunning) {
      all_ready = false;
      degraded += (degraded.empty() ? "" : ", ") + w->name() + " " + toString(w->state());
    }
  }
  if (all_ready && !notified_ready_) {
    notified_ready_ = true;
    notifier_.ready();
    spdlog::info("every worker is ready");
  }
  const std::string status = (degraded.empty() ? fmt::format("{} workers running", workers_.size())
                                               : fmt::format("degraded: {}", degraded)) +
                             host;
  if (status != last_status_) notifier_.status(last_status_ = status);
}

Result<LaunchSpec> SessionMachine::prepareLaunch(WorkerProcess& worker) {
  static const SessionInfo kNoSession;
  return hooks_.prepareLaunch(worker, isHost(worker) ? kNoSession : session_);
}

std::vector<HandedFd> SessionMachine::handOver(WorkerProcess& worker) {
  return hooks_.handOver(worker);
}

void SessionMachine::onReady(WorkerProcess& worker) { hooks_.onReady(worker); }

void SessionMachine::onEvent(WorkerProcess& worker, const abi::EventBody& event) {
  hooks_.onEvent(worker, event);
}

Result<void> SessionMachine::onConnection(WorkerProcess& worker, Message& message) {
  return hooks_.onConnection(worker, message);
}

void SessionMachine::onRequest(WorkerProcess& worker, uint32_t id, const std::string& text) {
  hooks_.onRequest(worker, id, text);
}

void SessionMachine::onReaped(WorkerProcess& worker, uint32_t pid) { hooks_.onReaped(worker, pid); }

// A host worker has no set to restart: it starts again on its own, within the same limit as
// session restarts (past it funkhausd gives up).
void SessionMachine::onEscalate(WorkerProcess& worker) {
  if (!isHost(worker)) return restartSet();
  if (state_ == State::kShuttingDown || state_ == State::kDone) return;
  if (!escalation_.allowSessionRestart(clock_.now())) {
    spdlog::critical("{}: keeps failing: giving up so systemd can take over", worker.name());
    return shutdown(1);
  }
  spdlog::warn("{}: restarting it with a fresh restart history", worker.name());
  worker.start();
}

void SessionMachine::onChanged(WorkerProcess&) {
  continueIfGone();
  updateStatus();
}

}  // namespace funkhaus::supervisor
