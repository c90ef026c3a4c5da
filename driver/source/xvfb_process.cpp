// Xvfb child process: fork/exec with the death signal set, -displayfd readiness, stop and reap.
#include "funkhaus/vdisplay/xvfb_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "funkhaus/common/clock.h"

namespace funkhaus::vdisplay {
namespace {

constexpr int kDisplayFdInChild = 3;
constexpr int kKeepaliveSliceMs = 50;

// In the child after fork: only async-signal-safe calls until exec.
[[noreturn]] void childExec(const std::vector<char*>& argv, int ready_fd, int log_fd, int devnull,
                            pid_t parent) {
  // Move the fds we keep above the targets, then place them.
  const int ready = fcntl(ready_fd, F_DUPFD, 10);
  const int log = fcntl(log_fd, F_DUPFD, 10);
  if (ready < 0 || log < 0) _exit(127);
  if (dup2(devnull, STDIN_FILENO) < 0 || dup2(log, STDOUT_FILENO) < 0 ||
      dup2(log, STDERR_FILENO) < 0 || dup2(ready, kDisplayFdInChild) < 0)
    _exit(127);
  if (syscall(SYS_close_range, kDisplayFdInChild + 1, ~0U, 0) != 0) _exit(127);
  setpgid(0, 0);  // a terminal's Ctrl-C reaches the driver, which stops its servers itself
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // the driver blocks signals for its signalfd
  signal(SIGPIPE, SIG_DFL);                  // ignored dispositions survive exec
  // The server must not outlive the driver; SIGTERM lets it remove its lock file and socket.
  if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0) _exit(127);
  if (getppid() != parent) _exit(127);
  execvp(argv[0], argv.data());
  _exit(127);
}

}  // namespace

Result<XvfbProcess> XvfbProcess::start(const XvfbConfig& config) {
  if (config.width == 0 || config.height == 0)
    return makeError("Xvfb: screen size {}x{} is empty", config.width, config.height);
  std::vector<std::string> args = {config.binary};
  if (config.display) args.push_back(":" + std::to_string(*config.display));
  if (!config.auth_file.empty()) {
    args.emplace_back("-auth");
    args.push_back(config.auth_file);
  }
  for (const char* a :
       {"-displayfd", "3", "-nolisten", "tcp", "-noreset", "-br", "-dpi", "96", "-screen", "0"})
    args.emplace_back(a);
  args.push_back(std::to_string(config.width) + "x" + std::to_string(config.height) + "x24");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return makeError("Xvfb: pipe: {}", std::strerror(errno));
  UniqueFd ready_read(pipefd[0]), ready_write(pipefd[1]);
  UniqueFd log(memfd_create("xvfb-log", MFD_CLOEXEC));
  if (!log.valid()) return makeError("Xvfb: memfd_create: {}", std::strerror(errno));
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return makeError("Xvfb: /dev/null: {}", std::strerror(errno));

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return makeError("Xvfb: fork: {}", std::strerror(errno));
  if (pid == 0) childExec(argv, ready_write.get(), log.get(), devnull.get(), parent);
  ready_write.reset();

  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) {
    const int err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return makeError("Xvfb: pidfd_open: {}", std::strerror(err));
  }
  XvfbProcess server(pid, std::move(pidfd), std::move(log), 0);

  // Wait for "N\n" on the display fd, the server's exit, or the timeout.
  std::string number;
  const uint64_t deadline =
      monotonicNs() + static_cast<uint64_t>(config.start_timeout.count()) * 1'000'000u;
  for (;;) {
    const uint64_t now = monotonicNs();
    if (now >= deadline) {
      server.stop(std::chrono::milliseconds(500));
      return makeError("Xvfb did not report its display within {} ms; its log: {}",
                       config.start_timeout.count(), server.logTail(400));
    }
    pollfd fds[2] = {{ready_read.get(), POLLIN, 0}, {server.pidfd_.get(), POLLIN, 0}};
    const int wait_ms =
        static_cast<int>(std::min<uint64_t>((deadline - now) / 1'000'000 + 1, kKeepaliveSliceMs));
    const int n = poll(fds, 2, wait_ms);
    if (config.keepalive) config.keepalive();
    if (n < 0 && errno != EINTR) return makeError("Xvfb: poll: {}", std::strerror(errno));
    if (n <= 0) continue;
    if (fds[0].revents != 0) {
      char buffer[32];
      const ssize_t got = read(ready_read.get(), buffer, sizeof buffer);
      if (got > 0) {
        number.append(buffer, static_cast<size_t>(got));
        if (number.size() > 16) {
          server.stop();
          return makeError("Xvfb wrote garbage to its display fd");
        }
        if (number.find('\n') != std::string::npos) break;
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      // EOF without a number: the server is going away; its exit tells us why.
      fds[1].revents = POLLIN;
    }
    if (fds[1].revents != 0) {
      server.stop(std::chrono::milliseconds(500));
      return makeError("{} {} during start-up; its log: {}", config.binary, server.exitReason(),
                       server.logTail(400));
    }
  }
  uint32_t display = 0;
  size_t digits = 0;
  for (char c : number) {
    if (c == '\n') break;
    if (c < '0' || c > '9' || digits >= 6) {
      server.stop();
      return makeError("Xvfb reported display \"{}\", not a number", number);
    }
    display = display * 10 + static_cast<uint32_t>(c - '0');
    ++digits;
  }
  if (digits == 0) {
    server.stop();
    return makeError("Xvfb reported an empty display number");
  }
  server.display_ = display;
  return server;
}

XvfbProcess::XvfbProcess(XvfbProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      wait_status_(o.wait_status_),
      pidfd_(std::move(o.pidfd_)),
      log_(std::move(o.log_)),
      display_(o.display_) {}

XvfbProcess& XvfbProcess::operator=(XvfbProcess&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = std::exchange(o.pid_, -1);
    wait_status_ = o.wait_status_;
    pidfd_ = std::move(o.pidfd_);
    log_ = std::move(o.log_);
    display_ = o.display_;
  }
  return *this;
}

XvfbProcess::~XvfbProcess() { stop(); }

void XvfbProcess::reap() {
  if (pid_ <= 0) return;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  wait_status_ = status;
  pid_ = -1;
  pidfd_.reset();
}

std::string XvfbProcess::exitReason() const {
  if (wait_status_ < 0) return "is still running";
  if (WIFEXITED(wait_status_)) {
    if (WEXITSTATUS(wait_status_) == 127) return "could not be executed (exit 127: not installed?)";
    return fmt::format("exited with status {}", WEXITSTATUS(wait_status_));
  }
  if (WIFSIGNALED(wait_status_))
    return fmt::format("was killed by signal {}", WTERMSIG(wait_status_));
  return "ended";
}

bool XvfbProcess::exited() {
  if (pid_ <= 0) return true;
  pollfd p{pidfd_.get(), POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  reap();
  return true;
}

void XvfbProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  if (!exited()) {
    syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGTERM, nullptr, 0);
    pollfd p{pidfd_.get(), POLLIN, 0};
    const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(grace.count()) * 1'000'000u;
    for (;;) {
      const uint64_t now = monotonicNs();
      if (now >= deadline) break;
      const int n = poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000 + 1));
      if (n > 0) break;
      if (n < 0 && errno != EINTR) break;
    }
    if (poll(&p, 1, 0) <= 0) syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  }
  reap();
}

std::string XvfbProcess::logTail(size_t max_bytes) const {
  if (!log_.valid()) return "";
  struct stat st {};
  if (fstat(log_.get(), &st) != 0 || st.st_size <= 0) return "(empty)";
  const size_t size = static_cast<size_t>(st.st_size);
  const size_t from = size > max_bytes ? size - max_bytes : 0;
  std::string text(size - from, '\0');
  const ssize_t got = pread(log_.get(), text.data(), text.size(), static_cast<off_t>(from));
  text.resize(got > 0 ? static_cast<size_t>(got) : 0);
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace funkhaus::vdisplay
