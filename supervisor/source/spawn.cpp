// fork + exec of a worker with the credential drop done in the child before exec.
#include "funkhaus/supervisor/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/worker_channel.h"

namespace funkhaus::supervisor {
namespace {

// In the child: report why setup failed on the output fd, then exit with a permanent code
// (a setup step that fails once fails every time).
[[noreturn]] void childFail(const char* step) {
  char line[160];
  const int n = snprintf(line, sizeof line, "funkhausd: worker setup failed at %s: %s\n", step,
                         strerror(errno));
  if (n > 0) (void)!write(STDERR_FILENO, line, static_cast<size_t>(n));
  _exit(abi::kExitUnsupported);
}

}  // namespace

Result<SpawnedProcess> spawnWorker(const SpawnSpec& spec) {
  if (access(spec.path.c_str(), X_OK) != 0)
    return makeError("worker binary {} is not executable: {}", spec.path, std::strerror(errno));
  // Everything the child needs is built before fork: after fork only async-signal-safe calls.
  std::vector<std::string> argv_storage = {spec.path};
  argv_storage.insert(argv_storage.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (const auto& [k, v] : spec.environment) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  cap_t no_caps = cap_init();  // all sets empty
  if (no_caps == nullptr) return makeError("cap_init: {}", std::strerror(errno));

  // Signals stay blocked across fork: a SIGTERM aimed at the new worker before it execs must
  // not run funkhausd's own handler in the child (and be lost); it waits, then acts with the
  // default disposition once the child unblocks it.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  const pid_t pid = fork();
  if (pid != 0) pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) {
    cap_free(no_caps);
    return makeError("fork: {}", std::strerror(errno));
  }
  if (pid == 0) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // KILL/STOP: EINVAL
    // Move the fds we keep above 3 first so that dup2 targets cannot clobber them.
    const int channel = fcntl(spec.channel_fd, F_DUPFD, 10);
    const int output = fcntl(spec.output_fd, F_DUPFD, 10);
    if (channel < 0 || output < 0) childFail("dup");
    if (dup2(devnull.get(), STDIN_FILENO) < 0 || dup2(output, STDOUT_FILENO) < 0 ||
        dup2(output, STDERR_FILENO) < 0 || dup2(channel, kWorkerChannelFd) < 0)
      childFail("dup2");
    if (syscall(SYS_close_range, kWorkerChannelFd + 1, ~0U, 0) != 0) childFail("close_range");
    setpgid(0, 0);  // its own process group: a terminal's Ctrl-C goes to funkhausd only
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (spec.credentials) {
      const Credentials& c = *spec.credentials;
      if (setgroups(c.groups.size(), c.groups.data()) != 0) childFail("setgroups");
      if (setresgid(c.gid, c.gid, c.gid) != 0) childFail("setresgid");
      if (setresuid(c.uid, c.uid, c.uid) != 0) childFail("setresuid");
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) childFail("PR_SET_NO_NEW_PRIVS");
    if (cap_set_proc(no_caps) != 0) childFail("cap_set_proc");
    // After the credential drop (setuid clears the death signal), then make sure the parent
    // did not die before it was set.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) childFail("PR_SET_PDEATHSIG");
    if (getppid() != parent) _exit(abi::kExitPeerLost);
    execve(argv[0], argv.data(), envp.data());
    childFail("execve");
  }
  cap_free(no_caps);
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) {
    const int err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return makeError("pidfd_open: {}", std::strerror(err));
  }
  return SpawnedProcess{pid, std::move(pidfd)};
}

}  // namespace funkhaus::supervisor
