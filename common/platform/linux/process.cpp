// ProcessHandle on Linux: pidfd_open(2), poll(2) for the end, waitid(P_PIDFD) to reap.
#include "funkhaus/platform/process.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

namespace funkhaus::platform {
namespace {

// Monotonic now, for re-arming poll after EINTR without stretching the timeout.
int64_t nowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

ProcessId currentProcessId() { return static_cast<ProcessId>(getpid()); }

std::string describeExit(const ExitStatus& status) {
  if (!status.signaled) return "exit code " + std::to_string(status.code);
  const char* name = sigabbrev_np(status.code);
  return name != nullptr ? std::string("killed by SIG") + name
                         : "killed by signal " + std::to_string(status.code);
}

Result<ProcessHandle> ProcessHandle::open(ProcessId pid) {
  if (pid == 0 || pid > static_cast<ProcessId>(INT_MAX))
    return makeError(ErrorCode::kPeerLost, "process {}: not a valid process id", pid);
  UniqueHandle fd(static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0)));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ESRCH) return makeError(ErrorCode::kPeerLost, "process {}: no such process", pid);
    if (err == EINVAL)  // a thread that is not a process's main thread, say: no such process
      return makeError(ErrorCode::kPeerLost, "process {}: not a process", pid);
    if (err == ENOSYS)
      return makeError(ErrorCode::kUnsupported, "process {}: pidfd_open needs Linux 5.3", pid);
    return makeError("process {}: pidfd_open failed: {}", pid, std::strerror(err));
  }
  return ProcessHandle(pid, std::move(fd));
}

bool ProcessHandle::waitEnded(int64_t timeout_ns) const {
  if (!valid()) return true;
  const int64_t deadline = timeout_ns < 0 ? -1 : nowNs() + timeout_ns;
  for (;;) {
    int timeout_ms = -1;
    if (deadline >= 0)
      timeout_ms = static_cast<int>(std::min<int64_t>(
          (std::max<int64_t>(deadline - nowNs(), 0) + 999'999) / 1'000'000, INT_MAX));
    pollfd p{handle_.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, timeout_ms);
    // A pidfd turns readable when its process exits (zombies included).
    if (n > 0) return (p.revents & POLLIN) != 0;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::optional<ExitStatus> ProcessHandle::reap() {
  if (!valid()) return std::nullopt;
  siginfo_t info{};
  if (waitid(P_PIDFD, static_cast<id_t>(handle_.get()), &info, WEXITED | WNOHANG) != 0) {
    if (errno == ECHILD) {  // someone else reaped it: it is gone
      close();
      return ExitStatus{true, 0};
    }
    return std::nullopt;
  }
  // The pidfd can turn readable when the main thread is gone while other threads still exit:
  // not reapable yet.
  if (info.si_pid == 0) return std::nullopt;
  close();
  return ExitStatus{info.si_code != CLD_EXITED, info.si_status};
}

bool processGone(ProcessId pid) {
  auto handle = ProcessHandle::open(pid);
  if (!handle) return handle.error().code == ErrorCode::kPeerLost;
  return handle->ended();
}

}  // namespace funkhaus::platform
