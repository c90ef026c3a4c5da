// Helpers for unit tests: a pid that is certainly gone, a live foreign pid.
// Used by the keyed-mutex and ring unit tests (single test process).
#pragma once

#include <cstdint>
#include <cstdlib>

#if defined(_WIN32)
#include "funkhaus/platform/process.h"
#else
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace funkhaus::test {

#if defined(_WIN32)
// tests/windows/child_process.cpp: a child (this test program) that exits at once, its handles
// closed: its id is gone (until Windows reuses it); a child that sleeps until this program ends.
uint32_t deadPid();
uint32_t livePeerPid();

inline uint32_t selfPid() { return platform::currentProcessId(); }
#else
// Forks a child that exits at once and reaps it: its pid is gone (until the kernel reuses it).
inline uint32_t deadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return static_cast<uint32_t>(pid);
}

// Another process that is certainly alive while the test runs: our parent.
inline uint32_t livePeerPid() { return static_cast<uint32_t>(getppid()); }

inline uint32_t selfPid() { return static_cast<uint32_t>(getpid()); }
#endif

}  // namespace funkhaus::test
