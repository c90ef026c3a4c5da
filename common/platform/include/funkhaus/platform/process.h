// ProcessHandle: a handle on a process that stays bound to that process even after its id is
// reused (a pidfd on Linux, a process HANDLE on Windows), and liveness by process id. Used by
// ChildProcess (funkhausd's launcher, the driver's Xvfb, tests) and the ring role checks.
#pragma once

#if !defined(_WIN32)
#include <sys/types.h>
#endif

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/platform/handle.h"

namespace funkhaus::platform {

// A process id as the rings store it (pid_t on Linux, DWORD on Windows; both fit).
using ProcessId = uint32_t;

ProcessId currentProcessId();

// Whose process a launcher starts (funkhausd's workers, as the session's user).
#if defined(_WIN32)
struct Credentials {
  // The session whose user's token the process gets (WTSQueryUserToken): the active console
  // session of the session source.
  uint32_t session_id = 0;
};
#else
struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};
#endif

// How a process ended.
struct ExitStatus {
  bool signaled = false;  // killed by a signal (Linux); false on Windows
  int code = 0;           // exit code, or the signal number when signaled
  friend bool operator==(const ExitStatus&, const ExitStatus&) = default;
};

// "exit code 3", "killed by SIGKILL".
std::string describeExit(const ExitStatus& status);

class ProcessHandle {
 public:
  // A handle on process `pid`. Errors name the pid: no such process (kPeerLost), not
  // permitted, or the kernel has no process handles (kUnsupported).
  static Result<ProcessHandle> open(ProcessId pid);

  ProcessHandle() = default;
  ProcessHandle(ProcessHandle&&) noexcept = default;
  ProcessHandle& operator=(ProcessHandle&&) noexcept = default;

  bool valid() const { return handle_.valid(); }
  ProcessId id() const { return id_; }
  // Readable (Linux) / signalled (Windows) once the process has ended: for event loops.
  NativeHandle native() const { return handle_.get(); }

  // True once the process has ended (exited or killed; a zombie that is not reaped yet counts as
  // ended). Never blocks.
  bool ended() const { return waitEnded(0); }
  // Waits up to timeout_ns (negative: no limit) for the process to end; true if it has.
  bool waitEnded(int64_t timeout_ns) const;

  // For a child of this process: collects its exit status if it has ended (reaps it; the handle
  // is closed then). nullopt while it runs. A child someone else reaped reports
  // {signaled = true, code = 0}: gone, how unknown.
  std::optional<ExitStatus> reap();

  void close() { handle_.reset(); }

 private:
  ProcessHandle(ProcessId id, UniqueHandle handle) : id_(id), handle_(std::move(handle)) {}

  ProcessId id_ = 0;
  UniqueHandle handle_;
};

// True if no process with this id is running any more: it never existed, it has ended, or it is
// a zombie waiting to be reaped. 0 and ids out of the system's range count as gone (they can
// only come from garbage in shared memory).
bool processGone(ProcessId pid);

}  // namespace funkhaus::platform
