// ChildProcess: the one way funkhaus starts a program — workers (funkhausd's launcher), Xvfb
// (the driver) and the real binaries the tests run. argv, an exact fd map, environment,
// credentials, no capabilities, a parent-death signal, its own process group; stopped with
// SIGTERM, a grace period and SIGKILL, and always reaped. Used on the thread that owns it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/platform/process.h"

namespace funkhaus {

using platform::Credentials;  // uid, gid and groups

// How a child ended, and its text ("exit code 3", "killed by SIGKILL").
using platform::describeExit;
using platform::ExitStatus;

struct ChildSpec {
  std::string program;            // a path; without '/' it is looked up in PATH
  std::vector<std::string> args;  // argv[1..]
  // The whole environment of the child; nullopt: the parent's own.
  std::optional<std::map<std::string, std::string>> environment;
  // fds the child gets, as {fd number in the child, fd in the parent}; every other fd is
  // closed. The parent's fds stay open here. Child numbers 0..2 replace stdio.
  std::vector<std::pair<int, int>> fds;
  int stdin_fd = -1;                       // -1: /dev/null
  int stdout_fd = -1;                      // -1: /dev/null
  int stderr_fd = -1;                      // -1: the same as stdout
  std::optional<Credentials> credentials;  // unset: keep ours
  bool drop_privileges = true;             // PR_SET_NO_NEW_PRIVS and an empty capability set
  int death_signal = SIGKILL;              // sent to the child when its parent dies; 0: none
  bool own_process_group = true;           // a terminal's Ctrl-C reaches us, not the child
  // Exit code of the child when a set-up step after fork fails (it writes why to stderr).
  int setup_failure_exit = 66;
};

class ChildProcess {
 public:
  // fork + exec. Signals are blocked across fork so that one aimed at the child before exec is
  // not handled by our handlers in the child; the child starts with default dispositions and
  // nothing blocked.
  static Result<ChildProcess> spawn(const ChildSpec& spec);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // A child still running is killed (SIGKILL) and reaped: never a leaked process or zombie.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // The process handle: readable (signalled) once the child has exited, for an event loop (a
  // pidfd on Linux); invalid after it was reaped.
  platform::NativeHandle handle() const { return process_.native(); }
  bool running() const { return pid_ > 0 && !exit_; }

  // Reaps the child if it has exited; never blocks. The exit status, or nullopt while it runs.
  std::optional<ExitStatus> poll();
  // Waits up to `timeout` for the child to exit (and reaps it).
  std::optional<ExitStatus> wait(std::chrono::milliseconds timeout);
  // Sends a signal (no-op once reaped).
  void signal(int sig);
  // SIGTERM, up to `grace` for it to exit, then SIGKILL; reaps it. Idempotent.
  ExitStatus stop(std::chrono::milliseconds grace);
  const std::optional<ExitStatus>& exitStatus() const { return exit_; }

 private:
  ChildProcess(pid_t pid, platform::ProcessHandle process)
      : pid_(pid), process_(std::move(process)) {}

  pid_t pid_ = -1;
  platform::ProcessHandle process_;
  std::optional<ExitStatus> exit_;
};

}  // namespace funkhaus
