// SessionMachine: the session's worker set as an explicit state machine — start a session's set
// on a fresh plan, move it when the session changes (old set stopped in reverse start order,
// new one started as the new user), restart the whole set on fresh rings when a worker's policy
// escalates (giving up past the limit), and shut down. Beside the session's set, the host set
// (Scope::kHost rows the config enables): started once, without a session, supervised the same
// way (backoff, heartbeats, the owner's cleanup), untouched by session changes, stopped last at
// shutdown. Per-worker content (what a worker gets,
// where its events go, what is released when it is reaped) is the Hooks' business. Injected
// clock, launcher and service notifier; funkhausd's event loop thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/clock.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/process_launcher.h"
#include "funkhaus/supervisor/restart_policy.h"
#include "funkhaus/supervisor/service_notifier.h"
#include "funkhaus/supervisor/session_source.h"
#include "funkhaus/supervisor/worker_process.h"

namespace funkhaus::supervisor {

class SessionMachine : private WorkerProcess::Delegate {
 public:
  enum class State {
    kNoSession,      // waiting for a session
    kRunning,        // the session's set is up (or being kept up)
    kSwitching,      // the old set is stopping; then the newest target session starts
    kRestartingSet,  // escalation: the set is stopping; then it starts again on fresh rings
    kShuttingDown,   // every worker is stopping; then finished()
    kDone,
  };

  class Hooks {
   public:
    virtual ~Hooks() = default;
    // A set begins in `session`: its plan (fresh rings). An error fails every worker.
    virtual Result<void> openPlan(const SessionInfo& session) = 0;
    // Before a set is stopped (its monitor goes before its workers).
    virtual void setEnding() = 0;
    // The set is gone: drop its plan.
    virtual void closePlan() = 0;
    // Per worker, as WorkerProcess::Delegate says. A host worker gets an empty session.
    virtual Result<LaunchSpec> prepareLaunch(WorkerProcess& worker, const SessionInfo& session) = 0;
    // A worker of the set that does not start with it: it waits for something the set makes
    // (its virtual monitor), and whoever says so starts it once that is there.
    virtual bool startsLater(WorkerProcess& worker) {
      (void)worker;
      return false;
    }
    virtual std::vector<HandedFd> handOver(WorkerProcess& worker) = 0;
    virtual void onReady(WorkerProcess& worker) = 0;
    virtual void onEvent(WorkerProcess& worker, const abi::EventBody& event) = 0;
    virtual Result<void> onConnection(WorkerProcess& worker, Message& message) = 0;
    virtual void onRequest(WorkerProcess& worker, uint32_t id, const std::string& text) = 0;
    virtual void onReaped(WorkerProcess& worker, uint32_t pid) = 0;
    // Shut down and every worker gone: funkhausd exits with `exit_code`.
    virtual void finished(int exit_code) = 0;
  };

  SessionMachine(const Config& config, ProcessLauncher& launcher, const Clock& clock,
                 ServiceNotifier& notifier, Hooks& hooks);
  ~SessionMachine() override;

  State state() const { return state_; }
  // The session whose set runs (or is being stopped), empty id when none.
  const SessionInfo& session() const { return session_; }
  const std::vector<std::unique_ptr<WorkerProcess>>& workers() const { return workers_; }
  const std::vector<std::unique_ptr<WorkerProcess>>& hostWorkers() const { return host_; }
  // A worker of the session's set or the host set by name, or nullptr.
  WorkerProcess* find(std::string_view name) const;
  int exitCode() const { return exit_code_; }

  // The config for the next set (a reload); workers already running keep theirs.
  void setConfig(const Config& config);

  // Starts the host set (hostWorkers(config)), whether or not there is a session. Once. It
  // sends no READY: that is the session's set's (switchTo, tick).
  void startHost();

  // Re-reads `sessions`; moves the set when the session is another one now (or none).
  void refresh(SessionSource& sessions, const char* why);
  // Moves the set to `next` (nullopt: no session, the set just stops).
  void switchTo(const std::optional<SessionInfo>& next);
  // Escalation: the whole set again on a fresh plan, in start order; past the limit
  // (max_session_restarts within the window) funkhausd gives up with exit code 1.
  void restartSet();
  // Stops every worker (the session's set in reverse start order, then the host set), then
  // finished(exit_code).
  void shutdown(int exit_code);
  // What is due now: backoffs, grace periods, hello and heartbeat timeouts, and the status.
  void tick();
  // Tells the service manager what is up (READY once, STATUS when it changed).
  void updateStatus();

 private:
  void startSet();
  void stopSet();
  bool allGone() const;
  bool hostGone() const;
  bool isHost(const WorkerProcess& worker) const;
  void continueIfGone();

  Result<LaunchSpec> prepareLaunch(WorkerProcess& worker) override;
  std::vector<HandedFd> handOver(WorkerProcess& worker) override;
  void onReady(WorkerProcess& worker) override;
  void onEvent(WorkerProcess& worker, const abi::EventBody& event) override;
  Result<void> onConnection(WorkerProcess& worker, Message& message) override;
  void onRequest(WorkerProcess& worker, uint32_t id, const std::string& text) override;
  void onReaped(WorkerProcess& worker, uint32_t pid) override;
  void onEscalate(WorkerProcess& worker) override;
  void onChanged(WorkerProcess& worker) override;

  Config config_;
  ProcessLauncher& launcher_;
  const Clock& clock_;
  ServiceNotifier& notifier_;
  Hooks& hooks_;
  SessionEscalation escalation_;
  State state_ = State::kNoSession;
  SessionInfo session_;
  std::optional<SessionInfo> pending_;  // kSwitching: where to
  std::vector<std::unique_ptr<WorkerProcess>> workers_;
  std::vector<std::unique_ptr<WorkerProcess>> host_;
  bool host_started_ = false;
  bool host_stopping_ = false;
  int exit_code_ = 0;
  bool notified_ready_ = false;
  bool continuing_ = false;  // continueIfGone() is on the stack
  std::string last_status_;
};

const char* toString(SessionMachine::State state);

}  // namespace funkhaus::supervisor
