// CPU time of a process through its CPU-time clock.
#include <time.h>

#include "funkhaus/bench/variant.h"

namespace funkhaus::bench {

std::optional<uint64_t> processCpuNs(pid_t pid) {
  clockid_t clock = CLOCK_PROCESS_CPUTIME_ID;
  if (pid != 0 && clock_getcpuclockid(pid, &clock) != 0) return std::nullopt;
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return std::nullopt;
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace funkhaus::bench
