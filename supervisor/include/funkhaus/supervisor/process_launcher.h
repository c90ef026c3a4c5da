// ProcessLauncher: the seam between funkhausd's worker logic and the operating system's
// processes. A launched worker has a message channel (its fd 3 on Linux; on Windows a named pipe
// it opens by the name in kChannelPipeVariable), an output stream and an exit that is always
// reaped. The real launchers are platform code (common/platform/linux/process_launcher_linux.cpp,
// common/platform/windows/process_launcher_windows.cpp); unit tests use a fake. funkhausd's event
// loop thread only: events are delivered there.
#pragma once

#include <cstdint>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/channel.h"
#include "funkhaus/common/result.h"
#include "funkhaus/platform/process.h"

namespace funkhaus {
using platform::Credentials;
using platform::ExitStatus;
}  // namespace funkhaus

namespace funkhaus::supervisor {

struct LaunchSpec {
  std::string path;
  std::vector<std::string> args;  // argv[1..]
  // Linux: the whole environment. Windows: laid over the user's own environment (a Windows
  // program needs SystemRoot and others), funkhausd's when there are no credentials.
  std::map<std::string, std::string> environment;
  std::optional<Credentials> credentials;  // unset: keep funkhausd's own
};

// What a launched process reports. Nothing is reported after onExit.
class ProcessEvents {
 public:
  virtual ~ProcessEvents() = default;
  // One message from the worker, parsed and checked for form (the receiver still validates
  // what it means: the worker is untrusted).
  virtual void onMessage(Message message) = 0;
  // The worker sent something that is not a message; the channel is closed after this.
  virtual void onBadMessage(const std::string& why) = 0;
  // The worker hung up its end of the channel (closed it, or exited with messages unread): not
  // a bad message. The channel is closed after this; its exit, if it comes, is onExit.
  virtual void onHangUp() = 0;
  // One line the worker wrote to its stdout or stderr (long lines are cut at 1024 bytes).
  virtual void onOutputLine(const std::string& line) = 0;
  // The process is gone and reaped: `id` is free for reuse from now on.
  virtual void onExit(uint32_t id, const ExitStatus& status) = 0;
};

// A launched process's output cut into lines for ProcessEvents::onOutputLine: at '\n' (a '\r'
// before it is dropped: Windows lines end in "\r\n"), and at kMaxLine bytes. Used by the
// launchers on the event loop thread.
class OutputLines {
 public:
  static constexpr size_t kMaxLine = 1024;
  // Hands each line completed by `bytes` to `on_line`, which returns false to stop at once (the
  // process object it belongs to is gone); then this returns false too.
  template <typename OnLine>
  bool feed(const char* bytes, size_t n, OnLine&& on_line) {
    for (size_t i = 0; i < n; ++i) {
      const char c = bytes[i];
      if (c == '\n' && !line_.empty() && line_.back() == '\r') line_.pop_back();
      if (c == '\n' || line_.size() >= kMaxLine) {
        if (!on_line(line_)) return false;
        line_.clear();
        if (c == '\n') continue;
      }
      line_.push_back(c);
    }
    return true;
  }

 private:
  std::string line_;  // the line so far
};

class LaunchedProcess {
 public:
  // A process still running is killed and reaped; its events are no longer delivered.
  virtual ~LaunchedProcess() = default;
  virtual uint32_t id() const = 0;  // the process id, for the status and logs
  virtual Result<void> send(const Message& message) = 0;
  // Asks it to stop: SIGTERM on Linux. Windows has no such signal: the stop command on the
  // channel (WorkerProcess sends it) is the only request there, and this does nothing more.
  virtual void terminate() = 0;
  virtual void kill() = 0;  // ends it now (SIGKILL; TerminateProcess)
};

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Starts `spec`; `events` must outlive the returned process.
  virtual Result<std::unique_ptr<LaunchedProcess>> launch(const LaunchSpec& spec,
                                                          ProcessEvents& events) = 0;

  // This platform's launcher, delivering events on `io`.
  static std::unique_ptr<ProcessLauncher> createPlatform(boost::asio::io_context& io);
};

}  // namespace funkhaus::supervisor
