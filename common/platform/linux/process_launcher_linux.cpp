// The Linux process launcher: ChildProcess (fd map, credentials, no capabilities, death signal),
// a SOCK_SEQPACKET channel as the worker's fd 3, its stdout/stderr through a pipe, and its
// pidfd watched on the event loop until it is reaped.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <utility>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/child_process.h"
#include "funkhaus/common/worker_channel.h"
#include "funkhaus/supervisor/process_launcher.h"

namespace funkhaus::supervisor {
namespace {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;
using namespace std::chrono_literals;

class LinuxProcess final : public LaunchedProcess {
 public:
  LinuxProcess(asio::io_context& io, ChildProcess child, UniqueFd channel, UniqueFd output,
               ProcessEvents& events)
      : io_(io),
        child_(std::move(child)),
        id_(static_cast<uint32_t>(child_.pid())),
        events_(events),
        exit_(io, fcntl(child_.handle(), F_DUPFD_CLOEXEC, 0)),
        channel_(io, channel.release()),
        output_(io, output.release()) {}

  ~LinuxProcess() override {
    *alive_ = false;  // handlers still queued find out and return
    boost::system::error_code ignored;
    exit_.close(ignored);
    channel_.close(ignored);
    output_.close(ignored);
    // child_'s destructor kills and reaps a process still running.
  }

  void watch() {
    watchExit();
    watchChannel();
    readOutput();
  }

  uint32_t id() const override { return id_; }

  Result<void> send(const Message& message) override {
    if (!channel_.is_open()) return makeError("the worker's channel is closed");
    return sendMessage(channel_.native_handle(), message);
  }

  void terminate() override { child_.signal(SIGTERM); }
  void kill() override { child_.signal(SIGKILL); }

 private:
  void watchExit() {
    exit_.async_wait(Descriptor::wait_read,
                     [this, alive = alive_](const boost::system::error_code& ec) {
                       if (ec || !*alive) return;
                       reap();
                     });
  }

  void reap() {
    auto status = child_.poll();
    if (!status) {
      // The pidfd can turn readable when the main thread is gone while other threads of the
      // worker still exit: not reapable yet. Try again soon.
      auto retry = std::make_shared<asio::steady_timer>(io_, 5ms);
      retry->async_wait([this, alive = alive_, retry](const boost::system::error_code& ec) {
        if (!ec && *alive) reap();
      });
      return;
    }
    // What the worker sent before it exited, and its hang-up, come before its exit, however
    // the two descriptors' readiness fell in this loop pass.
    if (channel_.is_open()) {
      const auto alive = alive_;  // a handler may destroy this, alive_ with it
      readChannel(alive);
      if (!*alive) return;
    }
    boost::system::error_code ignored;
    channel_.close(ignored);  // a partial last line goes with the process
    output_.close(ignored);
    exit_.close(ignored);
    events_.onExit(id_, *status);  // may destroy this
  }

  void watchChannel() {
    channel_.async_wait(Descriptor::wait_read,
                        [this, alive = alive_](const boost::system::error_code& ec) {
                          if (ec || !*alive || !channel_.is_open()) return;
                          if (readChannel(alive)) watchChannel();
                        });
  }

  // False when the channel is done (closed, broken, or this process object gone).
  bool readChannel(const std::shared_ptr<bool>& alive) {
    for (;;) {
      auto received = receiveMessage(channel_.native_handle());
      if (!received) {
        boost::system::error_code ignored;
        channel_.close(ignored);
        // A hang-up (EOF, or a reset when it exits with our messages unread) is no bad message:
        // usually it is exiting, and the exit is reaped from the pidfd.
        if (received.error().code == ErrorCode::kPeerLost)
          events_.onHangUp();
        else
          events_.onBadMessage(received.error().message);
        return false;
      }
      if (!*received) return true;  // EAGAIN
      events_.onMessage(std::move(**received));
      if (!*alive || !channel_.is_open()) return false;
    }
  }

  void readOutput() {
    output_.async_read_some(asio::buffer(buffer_),
                            [this, alive = alive_](const boost::system::error_code& ec, size_t n) {
                              if (ec || !*alive) return;
                              const bool open = lines_.feed(buffer_.data(), n, [&](auto& line) {
                                events_.onOutputLine(line);
                                return *alive;
                              });
                              if (open) readOutput();
                            });
  }

  asio::io_context& io_;
  ChildProcess child_;
  uint32_t id_;
  ProcessEvents& events_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Descriptor exit_, channel_, output_;
  std::array<char, 4096> buffer_{};
  OutputLines lines_;
};

class LinuxLauncher final : public ProcessLauncher {
 public:
  explicit LinuxLauncher(asio::io_context& io) : io_(io) {}

  Result<std::unique_ptr<LaunchedProcess>> launch(const LaunchSpec& spec,
                                                  ProcessEvents& events) override {
    if (access(spec.path.c_str(), X_OK) != 0)
      return makeError("worker binary {} is not executable: {}", spec.path, std::strerror(errno));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0)
      return makeError("socketpair: {}", std::strerror(errno));
    UniqueFd ours(sv[0]), theirs(sv[1]);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0)
      return makeError("pipe: {}", std::strerror(errno));
    UniqueFd out_read(pipefd[0]), out_write(pipefd[1]);
    ChildSpec child;
    child.program = spec.path;
    child.args = spec.args;
    child.environment = spec.environment;
    child.fds = {{kWorkerChannelFd, theirs.get()}};
    child.stdout_fd = out_write.get();
    child.stderr_fd = out_write.get();
    child.credentials = spec.credentials;
    // A set-up step that fails once fails every time.
    child.setup_failure_exit = abi::kExitUnsupported;
    auto process = ChildProcess::spawn(child);
    if (!process) return process.error();
    auto launched = std::make_unique<LinuxProcess>(io_, std::move(*process), std::move(ours),
                                                   std::move(out_read), events);
    launched->watch();
    return std::unique_ptr<LaunchedProcess>(std::move(launched));
  }

 private:
  asio::io_context& io_;
};

}  // namespace

std::unique_ptr<ProcessLauncher> ProcessLauncher::createPlatform(asio::io_context& io) {
  return std::make_unique<LinuxLauncher>(io);
}

}  // namespace funkhaus::supervisor
