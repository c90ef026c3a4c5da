// XvfbServer: a real Xvfb on a free display number for one test suite, killed by its PID at the
// end. Used by the X11 capture tests (single test process).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xcb/xcb.h>

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

  // Starts Xvfb with one width x height x 24 screen on a display number nobody uses and waits
  // until it accepts connections. nullptr (and *why) if that fails.
  static std::unique_ptr<XvfbServer> start(uint32_t width, uint32_t height, std::string* why) {
    const std::string xvfb = binary();
    if (xvfb.empty()) {
      *why = "Xvfb is not installed";
      return nullptr;
    }
    const int first = 100 + static_cast<int>(getpid() % 300);
    for (int attempt = 0; attempt < 40; ++attempt) {
      const int n = first + attempt;
      const std::string socket = "/tmp/.X11-unix/X" + std::to_string(n);
      const std::string lock = "/tmp/.X" + std::to_string(n) + "-lock";
      struct stat st {};
      if (stat(socket.c_str(), &st) == 0 || stat(lock.c_str(), &st) == 0) continue;
      auto server = std::unique_ptr<XvfbServer>(new XvfbServer(n));
      if (server->launch(xvfb, width, height)) return server;
    }
    *why = "could not start Xvfb on any free display number";
    return nullptr;
  }

  XvfbServer(const XvfbServer&) = delete;
  XvfbServer& operator=(const XvfbServer&) = delete;
  ~XvfbServer() { stop(); }

  const std::string& display() const { return display_; }
  pid_t pid() const { return pid_; }

 private:
  explicit XvfbServer(int number) : display_(":" + std::to_string(number)) {}

  bool launch(const std::string& xvfb, uint32_t width, uint32_t height) {
    std::vector<std::string> args = {xvfb,
                                     display_,
                                     "-screen",
                                     "0",
                                     std::to_string(width) + "x" + std::to_string(height) + "x24",
                                     "-nolisten",
                                     "tcp",
                                     "-noreset"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const int spawned = posix_spawn(&pid_, xvfb.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      pid_ = -1;
      return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {  // display taken meanwhile, or broken
        pid_ = -1;
        return false;
      }
      xcb_connection_t* c = xcb_connect(display_.c_str(), nullptr);
      const bool up = xcb_connection_has_error(c) == 0;
      xcb_disconnect(c);
      if (up) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    return false;
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
