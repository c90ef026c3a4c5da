// The one worker runtime: every funkhaus worker process is a WorkerStage run by runWorker(),
// which owns the channel on fd 3 (hello, the hand-over of handles, ready, events, connection
// deposits), SIGTERM/SIGINT, the heartbeat, commands and the status page. Runs on the worker's
// main thread; the stage's step() runs there too, between the runtime's own checks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/common/worker_channel.h"

namespace funkhaus {

class WorkerStage;
struct RuntimeOptions;

// What a stage gets from the runtime: the handles funkhausd handed over, the status page and the
// messages a worker may send. Valid from start() until the stage is destroyed.
class WorkerContext {
 public:
  // The handle of a role and tag funkhausd sent (each can be taken once), or an invalid fd.
  UniqueFd take(abi::FdRole role, uint32_t tag = 0);
  // Every handle of a role, with its tag (e.g. the kept connections and their slots).
  std::vector<std::pair<uint32_t, UniqueFd>> takeAll(abi::FdRole role);
  // A ring funkhausd handed over, mapped (a sealed memfd, checked). Errors: kBadConfig when
  // funkhausd sent none (the worker table and the worker disagree), kAttachFailed when the fd
  // does not check out.
  Result<SharedMemory> ring(abi::FdRole direction, abi::RingId ring);

  // Events for funkhausd. Before ready they wait and go out right after it.
  Result<void> sendEvent(abi::Event event, uint64_t arg);
  // net: hands funkhausd a duplicate of a connection to keep for the next net (kConnection, tag
  // = slot), and says when it is gone.
  Result<void> depositConnection(uint32_t slot, platform::NativeHandle connection);
  Result<void> releaseConnection(uint32_t slot);

  // A request to funkhausd (JSON text with a "cmd"; which ones a worker may send is in the
  // worker table). `on_reply` runs on this thread, between steps, with the reply's text, or with
  // an error when the channel broke first. Before ready the request waits like an event.
  using ReplyHandler = std::function<void(Result<std::string>)>;
  Result<void> request(std::string text, ReplyHandler on_reply);
  // The answer to a request funkhausd sent (WorkerStage::onRequest).
  Result<void> reply(uint32_t id, std::string text);

  // The worker's status page (a private one when running without funkhausd).
  abi::WorkerStatusPage& status();
  void heartbeat();  // for a stage that blocks longer than a turn (e.g. starting a server)
  void setState(abi::WorkerState state);
  // False when running standalone (no channel on fd 3; RuntimeOptions::standalone_ok).
  bool supervised() const { return channel_.has_value(); }
  // Messages that failed to go out (counted into the status page's errors by the stage).
  uint64_t channelErrors() const { return channel_errors_; }

 private:
  friend int runWorker(WorkerStage& stage, const RuntimeOptions& options);
  Result<void> send(Message message);
  void markReady();
  // Hands a reply to the one waiting for it; false when nobody waits for that id.
  bool deliverReply(const ReplyMessage& reply);
  void failPendingRequests(const std::string& why);

  std::optional<WorkerChannel> channel_;
  std::optional<SharedMemory> private_status_;
  bool ready_ = false;
  std::vector<Message> pending_messages_;  // events and requests made before ready
  std::map<uint32_t, ReplyHandler> waiting_replies_;
  uint32_t next_request_ = 1;
  uint64_t channel_errors_ = 0;
};

class WorkerStage {
 public:
  virtual ~WorkerStage() = default;
  // Takes and attaches what funkhausd handed over (rings, sockets, devices) and gets ready to
  // work. An error ends the worker with exitCodeFor(error.code) before ready is sent.
  virtual Result<void> start(WorkerContext& context) = 0;
  // Does the stage's work for about `budget_ns` at most: waits for input and handles what came.
  // The runtime checks commands, signals and the heartbeat between steps, so a step must not
  // block much longer. An error ends the worker with exitCodeFor(error.code).
  virtual Result<void> step(int64_t budget_ns) = 0;
  // A command other than stop (keyframe, bitrate). Commands the stage does not take are logged.
  virtual void onCommand(const abi::CommandBody& command);
  // A request from funkhausd (untrusted JSON text): answer it with WorkerContext::reply(id, ...),
  // now or later. By default every request is answered {"ok":false,"error":"..."}.
  virtual void onRequest(WorkerContext& context, uint32_t id, const std::string& text);
  // Writes the stage's counters into the status page; called after every step.
  virtual void publish(abi::WorkerStatusPage& page, uint64_t now_ns) = 0;
  // Asked to stop (the stop command, SIGTERM or SIGINT): the last step has run.
  virtual void stop() {}
};

struct RuntimeOptions {
  abi::WorkerKind kind = abi::WorkerKind::kUnknown;
  const char* name = "worker";    // for log lines
  int64_t turn_ns = 20'000'000;   // step budget: the latency of commands and stop
  int connect_timeout_ms = 5000;  // hello -> the last ring-fds message
  bool standalone_ok = false;     // run without funkhausd when fd 3 is not its channel
};

// Connects the channel (hello, hand-over), starts the stage, sends ready, then runs turns of
// step() until the stop command, SIGTERM or SIGINT. Returns the process exit code
// (abi/exit_codes.h): kExitStopped when asked to stop, exitCodeFor() of a stage error,
// kExitPeerLost when the channel broke.
int runWorker(WorkerStage& stage, const RuntimeOptions& options);

// True once SIGTERM or SIGINT arrived (runWorker() installs the handlers).
bool stopSignalled();

}  // namespace funkhaus
