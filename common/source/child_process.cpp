// ChildProcess: fork + exec with the fd map and the credential drop done in the child.
#include "funkhaus/common/child_process.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "funkhaus/common/clock.h"

namespace funkhaus {
namespace {

// fds the child keeps are first moved at least this high, so that placing one cannot clobber
// another that is still to be placed.
constexpr int kScratchFloor = 64;

// In the child: say which step failed on stderr, then exit (only async-signal-safe calls).
[[noreturn]] void childFail(const char* step, int code) {
  const int err = errno;
  char line[200];
  const int n =
      snprintf(line, sizeof line, "funkhaus: child set-up failed at %s: %s\n", step, strerror(err));
  if (n > 0) (void)!write(STDERR_FILENO, line, static_cast<size_t>(n));
  _exit(code);
}

}  // namespace

Result<ChildProcess> ChildProcess::spawn(const ChildSpec& spec) {
  if (spec.program.empty()) return makeError("no program to start");
  if (spec.program.find('/') != std::string::npos && access(spec.program.c_str(), X_OK) != 0)
    return makeError(ErrorCode::kUnsupported, "{} is not executable: {}", spec.program,
                     std::strerror(errno));
  // Everything the child needs is built before fork: after fork only async-signal-safe calls.
  std::vector<std::string> argv_storage = {spec.program};
  argv_storage.insert(argv_storage.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
  if (spec.environment) {
    for (const auto& [k, v] : *spec.environment) env_storage.push_back(k + "=" + v);
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
  char* const* child_env = spec.environment ? envp.data() : environ;
  int highest = STDERR_FILENO;
  for (const auto& [child_fd, parent_fd] : spec.fds) {
    if (child_fd < 0 || child_fd >= kScratchFloor || parent_fd < 0)
      return makeError("bad fd map entry {} <- {}", child_fd, parent_fd);
    highest = std::max(highest, child_fd);
  }
  UniqueFd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) return makeError("/dev/null: {}", std::strerror(errno));
  cap_t no_caps = spec.drop_privileges ? cap_init() : nullptr;  // all sets empty
  if (spec.drop_privileges && no_caps == nullptr)
    return makeError("cap_init: {}", std::strerror(errno));
  const int stdin_fd = spec.stdin_fd >= 0 ? spec.stdin_fd : devnull.get();
  const int stdout_fd = spec.stdout_fd >= 0 ? spec.stdout_fd : devnull.get();
  const int stderr_fd = spec.stderr_fd >= 0 ? spec.stderr_fd : stdout_fd;
  const bool search = spec.program.find('/') == std::string::npos;
  const pid_t parent = getpid();

  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  const pid_t pid = fork();
  if (pid != 0) pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) {
    if (no_caps != nullptr) cap_free(no_caps);
    return makeError("fork: {}", std::strerror(errno));
  }
  if (pid == 0) {
    const int fail = spec.setup_failure_exit;
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // KILL/STOP: EINVAL
    // Lift every fd we keep out of the way, then place each at its number.
    int std_moved[3] = {fcntl(stdin_fd, F_DUPFD, kScratchFloor),
                        fcntl(stdout_fd, F_DUPFD, kScratchFloor),
                        fcntl(stderr_fd, F_DUPFD, kScratchFloor)};
    if (std_moved[0] < 0 || std_moved[1] < 0 || std_moved[2] < 0) childFail("dup", fail);
    int moved[kScratchFloor];
    const size_t count = std::min<size_t>(spec.fds.size(), kScratchFloor);
    for (size_t i = 0; i < count; ++i) {
      moved[i] = fcntl(spec.fds[i].second, F_DUPFD, kScratchFloor);
      if (moved[i] < 0) childFail("dup", fail);
    }
    for (int i = 0; i < 3; ++i)
      if (dup2(std_moved[i], i) < 0) childFail("dup2", fail);
    for (size_t i = 0; i < count; ++i)
      if (dup2(moved[i], spec.fds[i].first) < 0) childFail("dup2", fail);
    // Every other fd goes, also those below the highest one kept.
    for (int fd = STDERR_FILENO + 1; fd <= highest; ++fd) {
      bool kept = false;
      for (size_t i = 0; i < count; ++i) kept = kept || spec.fds[i].first == fd;
      if (!kept) close(fd);
    }
    if (syscall(SYS_close_range, highest + 1, ~0U, 0) != 0) childFail("close_range", fail);
    if (spec.own_process_group) setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (spec.credentials) {
      const Credentials& c = *spec.credentials;
      if (setgroups(c.groups.size(), c.groups.data()) != 0) childFail("setgroups", fail);
      if (setresgid(c.gid, c.gid, c.gid) != 0) childFail("setresgid", fail);
      if (setresuid(c.uid, c.uid, c.uid) != 0) childFail("setresuid", fail);
    }
    if (spec.drop_privileges) {
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) childFail("PR_SET_NO_NEW_PRIVS", fail);
      if (cap_set_proc(no_caps) != 0) childFail("cap_set_proc", fail);
    }
    // After the credential drop (setuid clears the death signal); then make sure the parent
    // did not die before it was set.
    if (spec.death_signal != 0) {
      if (prctl(PR_SET_PDEATHSIG, spec.death_signal, 0, 0, 0) != 0)
        childFail("PR_SET_PDEATHSIG", fail);
      if (getppid() != parent) _exit(fail);
    }
    if (search)
      execvpe(argv[0], argv.data(), child_env);
    else
      execve(argv[0], argv.data(), child_env);
    childFail("execve", fail);
  }
  if (no_caps != nullptr) cap_free(no_caps);
  auto process = platform::ProcessHandle::open(static_cast<platform::ProcessId>(pid));
  if (!process) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return process.error();
  }
  return ChildProcess(pid, std::move(*process));
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      process_(std::move(other.process_)),
      exit_(std::exchange(other.exit_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (running()) stop(std::chrono::milliseconds(0));
    pid_ = std::exchange(other.pid_, -1);
    process_ = std::move(other.process_);
    exit_ = std::exchange(other.exit_, std::nullopt);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (running()) stop(std::chrono::milliseconds(0));
}

std::optional<ExitStatus> ChildProcess::poll() {
  if (exit_ || pid_ <= 0) return exit_;
  exit_ = process_.reap();
  return exit_;
}

std::optional<ExitStatus> ChildProcess::wait(std::chrono::milliseconds timeout) {
  const uint64_t deadline =
      monotonicNs() + static_cast<uint64_t>(std::max<int64_t>(timeout.count(), 0)) * 1'000'000u;
  for (;;) {
    if (poll()) return exit_;
    const uint64_t now = monotonicNs();
    if (now >= deadline) return std::nullopt;
    const uint64_t slice_ns = std::min<uint64_t>(deadline - now, 10'000'000);
    if (process_.waitEnded(static_cast<int64_t>(slice_ns)) && !poll())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // readable, not reapable yet
  }
}

void ChildProcess::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

ExitStatus ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exit_.value_or(ExitStatus{true, SIGKILL});
  if (!running()) return *exit_;
  if (grace.count() > 0) {
    signal(SIGTERM);
    if (wait(grace)) return *exit_;
  }
  signal(SIGKILL);
  while (!wait(std::chrono::milliseconds(1000))) {
  }
  return *exit_;
}

}  // namespace funkhaus
