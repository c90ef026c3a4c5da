// XvfbServer: a real Xvfb on a free display number for one test suite, started and stopped
// through ChildProcess. Used by the X11 capture tests (single test process).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/unique_fd.h"

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
  pid_t pid() const { return process_ ? process_->pid() : -1; }

 private:
  XvfbServer() = default;

  bool launch(const std::string& xvfb, uint32_t width, uint32_t height, std::string* why) {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
      *why = "pipe failed";
      return false;
    }
    UniqueFd ready_read(ready[0]), ready_write(ready[1]);
    ChildSpec spec;
    spec.program = xvfb;
    spec.args = {"-displayfd",
                 "3",
                 "-screen",
                 "0",
                 std::to_string(width) + "x" + std::to_string(height) + "x24",
                 "-nolisten",
                 "tcp",
                 "-noreset"};
    spec.fds = {{3, ready_write.get()}};
    spec.drop_privileges = false;
    auto process = ChildProcess::spawn(spec);
    ready_write.reset();
    if (!process) {
      *why = "could not start " + xvfb + ": " + process.error().message;
      return false;
    }
    process_.emplace(std::move(*process));
    // Xvfb writes its display number once it accepts connections; EOF if it died.
    std::string number;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (number.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      pollfd p{ready_read.get(), POLLIN, 0};
      char buf[16];
      ssize_t n = 0;
      if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0 ||
          (n = read(ready_read.get(), buf, sizeof buf)) <= 0)
        break;
      number.append(buf, static_cast<size_t>(n));
    }
    if (number.find('\n') == std::string::npos) {
      stop();
      *why = "Xvfb did not come up";
      return false;
    }
    display_ = ":" + number.substr(0, number.find('\n'));
    return true;
  }

  void stop() {
    if (process_) process_->stop(std::chrono::seconds(2));
    process_.reset();
  }

  std::string display_;
  std::optional<ChildProcess> process_;
};

}  // namespace funkhaus::capture::test
