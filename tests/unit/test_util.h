// Helpers for unit tests: a pid that is certainly gone, a live foreign pid.
// Used by the keyed-mutex and ring unit tests (single test process).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace funkhaus::test {

// Forks a child that exits at once and reaps it: its pid is gone (until the kernel reuses it).
inline uint32_t deadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return static_cast<uint32_t>(pid);
}

inline uint32_t selfPid() { return static_cast<uint32_t>(getpid()); }

}  // namespace funkhaus::test
