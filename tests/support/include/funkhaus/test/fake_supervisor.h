// FakeSupervisor: a real worker binary started the way funkhausd starts it (channel at fd 3,
// status page, handles in ring-fds messages), with the test playing funkhausd's side. The one
// fake supervisor of the worker tests. Test processes only; used from one thread, except that
// listen() receives on a thread of its own (see there).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/channel.h"
#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::test {

using namespace std::chrono_literals;

// One handle to hand over: its role, tag and an fd the caller keeps open.
struct Handle {
  abi::FdRole role;
  uint32_t tag = 0;
  int fd = -1;
};

// A status page as funkhausd makes one for a worker of `kind`.
SharedMemory makeStatusPage(abi::WorkerKind kind);

class FakeSupervisor {
 public:
  struct Options {
    std::string program;            // the worker binary
    std::vector<std::string> args;  // its arguments
    abi::WorkerKind kind = abi::WorkerKind::kUnknown;
    // Environment changes: "NAME=value" sets, "NAME" unsets; the rest is inherited.
    std::vector<std::string> environment;
  };

  // Starts the worker; nothing is handed over yet. Its stdout and stderr go to a log file.
  static Result<FakeSupervisor> start(Options options);

  FakeSupervisor(FakeSupervisor&& other) noexcept;
  FakeSupervisor& operator=(FakeSupervisor&&) = delete;
  ~FakeSupervisor();

  // Waits for hello and checks it (kind, ABI version, pid), then hands over the status page
  // and `handles`, at most abi::kMaxMessageFds per message, the last one flagged.
  Result<void> handOver(const std::vector<Handle>& handles, std::chrono::milliseconds timeout = 5s);
  // Waits for ready; events and deposits that come first are recorded.
  Result<void> waitReady(std::chrono::milliseconds timeout = 10s);
  // Both of the above.
  Result<void> connect(const std::vector<Handle>& handles, std::chrono::milliseconds timeout = 10s);

  // The next message from the worker (recorded as well), or nullopt on timeout or EOF.
  std::optional<Message> receive(std::chrono::milliseconds timeout);
  // Receives until nothing comes for `quiet` (at most `timeout` in all); records everything.
  void drain(std::chrono::milliseconds quiet = 50ms, std::chrono::milliseconds timeout = 2s);
  Result<void> send(abi::Command command, uint64_t arg = 0);

  // From now on a thread of its own receives: each message is recorded as receive() records
  // it, then handed to `on_message` on that thread (a test that must react while it does other
  // things: answer a keyframe request, keep deposited connections). Until stopListening() (or
  // kill9(), stop(), waitExit(), the destructor) the test calls neither receive(), drain() nor
  // waitReady(), does not move this object, and reads what was recorded through events(),
  // deposits() and releases() only. Ends by itself when the worker closes the channel.
  void listen(std::function<void(const Message&)> on_message);
  void stopListening();

  // What the worker sent so far (after hello).
  std::vector<abi::EventBody> events() const;
  // Connections it deposited and did not release, by slot (the fds funkhausd would keep). Not
  // while listening (the listener's callback sees every deposit).
  const std::map<uint32_t, UniqueFd>& connections() const { return connections_; }
  uint64_t deposits() const;
  uint64_t releases() const;

  abi::WorkerStatusPage& status() const {
    return *reinterpret_cast<abi::WorkerStatusPage*>(status_page_.data());
  }
  int statusPageFd() const { return status_page_.handle(); }
  pid_t pid() const { return process_.pid(); }
  ChildProcess& process() { return process_; }
  int channel() const { return channel_.get(); }

  // SIGKILL and reap.
  ExitStatus kill9();
  // The stop command, then waits for the exit (nullopt on timeout).
  std::optional<ExitStatus> stop(std::chrono::milliseconds timeout = 5s);
  std::optional<ExitStatus> waitExit(std::chrono::milliseconds timeout);

  // What the worker wrote to stdout and stderr so far.
  std::string log() const;
  const std::string& logPath() const { return log_path_; }

 private:
  FakeSupervisor(ChildProcess process, UniqueFd channel, SharedMemory status_page,
                 std::string log_path, abi::WorkerKind kind)
      : process_(std::move(process)),
        channel_(std::move(channel)),
        status_page_(std::move(status_page)),
        log_path_(std::move(log_path)),
        kind_(kind) {}
  void record(Message& message);
  std::optional<Message> receiveOne(int timeout_ms);

  ChildProcess process_;
  UniqueFd channel_;
  SharedMemory status_page_;
  std::string log_path_;
  abi::WorkerKind kind_;
  std::vector<abi::EventBody> events_;
  std::map<uint32_t, UniqueFd> connections_;
  uint64_t deposits_ = 0, releases_ = 0;
  bool ready_ = false;
  mutable std::mutex mutex_;  // what record() writes, while a listener runs
  std::thread listener_;
  std::atomic<bool> stop_listening_{false};
};

// The environment of this process with `changes` applied ("NAME=value" sets, "NAME" unsets).
std::map<std::string, std::string> environmentWith(const std::vector<std::string>& changes);

}  // namespace funkhaus::test
