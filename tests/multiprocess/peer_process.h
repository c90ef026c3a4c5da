// PeerProcess: runs tests/multiprocess/ring_peer as a real child process with a ring memfd as
// fd 3 and its stdout on a pipe the test reads line by line. Used by the multi-process tests.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace funkhaus::test {

class PeerProcess {
 public:
  // Starts ring_peer with `args`; `ring_fd` becomes fd 3 in the child.
  PeerProcess(int ring_fd, const std::vector<std::string>& args);
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;
  ~PeerProcess();  // SIGKILLs and reaps a child that is still running

  pid_t pid() const { return pid_; }
  // Next line of the child's stdout, or nullopt after timeout_ms or at EOF.
  std::optional<std::string> readLine(int timeout_ms);
  // Next line that starts with `prefix`, skipping others.
  std::optional<std::string> waitForLine(const std::string& prefix, int timeout_ms);
  void kill(int signal);
  // Waits for the child to end; returns the raw wait status.
  int wait();

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool reaped_ = false;
  std::string buffer_;
};

}  // namespace funkhaus::test
