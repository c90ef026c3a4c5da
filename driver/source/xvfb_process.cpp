// Xvfb child process: started through ChildProcess (the one way funkhaus starts a program),
// -displayfd readiness, stop and reap.
#include "funkhaus/vdisplay/xvfb_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
constexpr int kExecFailed = 127;  // the child's exit code when the program cannot be started

}  // namespace

Result<XvfbProcess> XvfbProcess::start(const XvfbConfig& config) {
  if (config.width == 0 || config.height == 0)
    return makeError("Xvfb: screen size {}x{} is empty", config.width, config.height);
  std::vector<std::string> args;
  if (config.display) args.push_back(":" + std::to_string(*config.display));
  if (!config.auth_file.empty()) {
    args.emplace_back("-auth");
    args.push_back(config.auth_file);
  }
  for (const char* a :
       {"-displayfd", "3", "-nolisten", "tcp", "-noreset", "-br", "-dpi", "96", "-screen", "0"})
    args.emplace_back(a);
  args.push_back(std::to_string(config.width) + "x" + std::to_string(config.height) + "x24");

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return makeError("Xvfb: pipe: {}", std::strerror(errno));
  UniqueFd ready_read(pipefd[0]), ready_write(pipefd[1]);
  UniqueFd log(memfd_create("xvfb-log", MFD_CLOEXEC));
  if (!log.valid()) return makeError("Xvfb: memfd_create: {}", std::strerror(errno));

  ChildSpec spec;
  spec.program = config.binary;
  spec.args = std::move(args);
  spec.fds = {{kDisplayFdInChild, ready_write.get()}};
  spec.stdout_fd = log.get();  // and stderr
  // The driver's own user; the server must not outlive the driver, and SIGTERM lets it remove
  // its lock file and socket. Its own process group: a terminal's Ctrl-C reaches the driver,
  // which stops its servers itself.
  spec.drop_privileges = false;
  spec.death_signal = SIGTERM;
  spec.own_process_group = true;
  spec.setup_failure_exit = kExecFailed;
  auto process = ChildProcess::spawn(spec);
  if (!process)
    return makeError("{} could not be executed: {}", config.binary, process.error().message);
  ready_write.reset();
  XvfbProcess server(std::move(*process), std::move(log), 0);

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
    pollfd fds[2] = {{ready_read.get(), POLLIN, 0}, {server.process_->handle(), POLLIN, 0}};
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
    : process_(std::exchange(o.process_, std::nullopt)),
      log_(std::move(o.log_)),
      display_(o.display_) {}

XvfbProcess& XvfbProcess::operator=(XvfbProcess&& o) noexcept {
  if (this != &o) {
    stop();
    process_ = std::exchange(o.process_, std::nullopt);
    log_ = std::move(o.log_);
    display_ = o.display_;
  }
  return *this;
}

XvfbProcess::~XvfbProcess() { stop(); }

std::string XvfbProcess::exitReason() const {
  if (!process_ || !process_->exitStatus()) return "is still running";
  const ExitStatus& status = *process_->exitStatus();
  if (!status.signaled && status.code == kExecFailed)
    return "could not be executed (exit 127: not installed?)";
  if (!status.signaled) return fmt::format("exited with status {}", status.code);
  return fmt::format("was killed by signal {}", status.code);
}

bool XvfbProcess::exited() { return !process_ || process_->poll().has_value(); }

void XvfbProcess::stop(std::chrono::milliseconds grace) {
  if (process_) process_->stop(grace);
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
