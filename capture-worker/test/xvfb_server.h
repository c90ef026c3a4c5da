// XvfbServer: a real Xvfb on a free display number for one test suite, killed by its PID at the
// end. Used by the X11 capture tests (single test process).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace funkhaus::capture::test {

class XvfbServer {
 public:
  // The Xvfb binary on PATH, or empty.
  static std::string binary() {
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      const std::string candidate = dirs.substr(start, end - start) + "/Xvfb";
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
      start = end + 1;
    }
    return "";
  }

  // Starts Xvfb with one width x height x 24 screen on a display number Xvfb picks itself
  // (-displayfd: no race with other servers starting at the same time) and waits until it
  // accepts connections. nullptr (and *why) if that fails.
  static std::unique_ptr<XvfbServer> start(uint32_t width, uint32_t height, std::string* why) {
    const std::string xvfb = binary();
    if (xvfb.empty()) {
      *why = "Xvfb is not installed";
      return nullptr;
    }
    auto server = std::unique_ptr<XvfbServer>(new XvfbServer());
    if (!server->launch(xvfb, width, height, why)) return nullptr;
    return server;
  }

  XvfbServer(const XvfbServer&) = delete;
  XvfbServer& operator=(const XvfbServer&) = delete;
  ~XvfbServer() { stop(); }

  const std::string& display() const { return display_; }
  pid_t pid() const { return pid_; }

 private:
  XvfbServer() = default;

  bool launch(const std::string& xvfb, uint32_t width, uint32_t height, std::string* why) {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
      *why = "pipe failed";
      return false;
    }
    std::vector<std::string> args = {
        xvfb,        "-displayfd", "3",
        "-screen",   "0",          std::to_string(width) + "x" + std::to_string(height) + "x24",
        "-nolisten", "tcp",        "-noreset"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, ready[1], 3);
    const int spawned = posix_spawn(&pid_, xvfb.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(ready[1]);
    if (spawned != 0) {
      close(ready[0]);
      pid_ = -1;
      *why = "could not start " + xvfb;
      return false;
    }
    // Xvfb writes its display number once it accepts connections; EOF if it died.
    std::string number;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (number.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      pollfd p{ready[0], POLLIN, 0};
      char buf[16];
      ssize_t n = 0;
      if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0 ||
          (n = read(ready[0], buf, sizeof buf)) <= 0)
        break;
      number.append(buf, static_cast<size_t>(n));
    }
    close(ready[0]);
    if (number.find('\n') == std::string::npos) {
      stop();
      *why = "Xvfb did not come up";
      return false;
    }
    display_ = ":" + number.substr(0, number.find('\n'));
    return true;
  }

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string display_;
  pid_t pid_ = -1;
};

}  // namespace funkhaus::capture::test
