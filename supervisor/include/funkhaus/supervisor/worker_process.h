// WorkerProcess: one worker of a session through its lives — launch (behind the ProcessLauncher
// seam), hello and fd hand-over, ready, heartbeat, stop with grace, restart with backoff, and
// what its channel may carry (everything it sends is validated: the worker is untrusted).
// Time comes from the injected Clock; tick() does what is due. funkhausd's event loop thread.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/supervisor/process_launcher.h"
#include "funkhaus/supervisor/restart_policy.h"
#include "funkhaus/supervisor/session_plan.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {

enum class WorkerState { kStarting, kRunning, kBackoff, kStopping, kStopped, kFailed };
const char* toString(WorkerState state);

struct WorkerTimings {
  Duration hello_timeout = std::chrono::seconds(5);
  Duration heartbeat_timeout = std::chrono::seconds(1);  // ready, no heartbeat this long: killed
  Duration stop_grace = std::chrono::seconds(1);         // stop request, or hang-up -> kill
};

class WorkerProcess final : private ProcessEvents {
 public:
  // What the worker's owner decides: what it gets, where its events go, what it held.
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // Before each launch: path, arguments, environment, credentials.
    virtual Result<LaunchSpec> prepareLaunch(WorkerProcess& worker) = 0;
    // After its hello: the fds it gets besides its status page (borrowed, copied to send).
    virtual std::vector<HandedFd> handOver(WorkerProcess& worker) = 0;
    virtual void onReady(WorkerProcess& worker) = 0;
    virtual void onEvent(WorkerProcess& worker, const abi::EventBody& event) = 0;
    // A connection deposit or release (only from a row that deposits); an error kills it.
    virtual Result<void> onConnection(WorkerProcess& worker, Message& message) = 0;
    // A request it sent (its row lists requests it may send; the text is untrusted JSON):
    // answer with WorkerProcess::reply(id, ...), now or later.
    virtual void onRequest(WorkerProcess& worker, uint32_t id, const std::string& text) = 0;
    // Reaped: `pid` is free for reuse; release what it held (ring roles, slots, devices).
    virtual void onReaped(WorkerProcess& worker, uint32_t pid) = 0;
    // Its restart policy asks for the whole set again.
    virtual void onEscalate(WorkerProcess& worker) = 0;
    // Its state or anything in its status changed. May destroy the worker.
    virtual void onChanged(WorkerProcess& worker) = 0;
  };

  WorkerProcess(const WorkerSpec& spec, const RestartPolicyConfig& policy,
                const WorkerTimings& timings, ProcessLauncher& launcher, const Clock& clock,
                Delegate& delegate);
  ~WorkerProcess() override;
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  const WorkerSpec& spec() const { return spec_; }
  const std::string& name() const { return name_; }
  WorkerState state() const { return state_; }
  std::optional<uint32_t> pid() const;
  bool running() const { return process_ != nullptr; }
  bool ready() const { return ready_; }
  int restarts() const { return std::max(spawns_ - 1, 0); }
  TimePoint startedAt() const { return started_at_; }
  TimePoint heartbeatSeen() const { return heartbeat_seen_; }
  Duration nextBackoff() const { return policy_.nextBackoff(); }
  const std::optional<ExitStatus>& lastExit() const { return last_exit_; }
  const std::string& failure() const { return failure_; }
  // What the worker wrote (untrusted numbers), or nullptr before its first launch.
  const abi::WorkerStatusPage* statusPage() const;

  // Launches it now with a fresh restart history (stopped, failed or in backoff).
  void start();
  // Stops it and starts it again at once (a request, not a failure).
  void restart();
  // Stops it (the stop command, SIGTERM, SIGKILL after the grace period); it stays stopped.
  void stop();
  // Kills it now: it misbehaved. The restart policy decides what follows.
  void kill(const std::string& why);
  // Marks it failed without a process (e.g. its session's rings could not be made).
  void fail(std::string why);
  // A command to a ready worker that accepts it.
  Result<void> command(abi::Command command, uint64_t arg = 0);
  // A request to this ready worker (JSON text); `done` gets the reply's text (untrusted), or an
  // error when it did not answer within `timeout` or exited first. Never called synchronously.
  using ReplyHandler = std::function<void(Result<std::string>)>;
  Result<void> request(std::string text, Duration timeout, ReplyHandler done);
  // The answer to request `id` it sent.
  Result<void> reply(uint32_t id, std::string text);
  // Backoff over, grace over (after a stop or a hang-up), no hello, heartbeat stopped, a reply
  // overdue: whatever is due now.
  void tick();

 private:
  enum class AfterExit { kPolicy, kRestartNow, kStayStopped };

  void launch();
  void terminate();
  void failRequests(const std::string& why);
  Result<void> sendHandOver();

  void onMessage(Message message) override;
  void onBadMessage(const std::string& why) override;
  void onHangUp() override;
  void onOutputLine(const std::string& line) override;
  void onExit(uint32_t id, const ExitStatus& status) override;

  const WorkerSpec& spec_;
  const std::string name_;
  WorkerTimings timings_;
  ProcessLauncher& launcher_;
  const Clock& clock_;
  Delegate& delegate_;
  RestartPolicy policy_;
  std::unique_ptr<LaunchedProcess> process_;
  std::optional<SharedMemory> status_page_;
  WorkerState state_ = WorkerState::kStopped;
  AfterExit after_exit_ = AfterExit::kPolicy;
  int spawns_ = 0;
  TimePoint started_at_{}, restart_at_{}, kill_at_{}, heartbeat_seen_{};
  uint64_t last_heartbeat_ = 0;
  bool hello_ = false, ready_ = false;
  bool hung_up_ = false;  // its channel is gone: it exits within the grace period or is killed
  std::optional<ExitStatus> last_exit_;
  std::string failure_;
  struct PendingReply {
    TimePoint deadline;
    ReplyHandler done;
  };
  std::map<uint32_t, PendingReply> replies_;
  uint32_t next_request_ = 1;
};

}  // namespace funkhaus::supervisor
