// The machine's CPU model and busy time from /proc, a process's CPU time through its CPU-time
// clock, the running binary's directory.
#include "funkhaus/bench/machine.h"

#include <time.h>
#include <unistd.h>

#include <fstream>

namespace funkhaus::bench {

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

uint64_t machineBusyNs() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  if (!in || cpu != "cpu") return 0;
  const long ticks = sysconf(_SC_CLK_TCK);
  return (user + nice + system + irq + softirq + steal) *
         (1'000'000'000u / static_cast<uint64_t>(ticks > 0 ? ticks : 100));
}

std::optional<uint64_t> processCpuNs(pid_t pid) {
  clockid_t clock = CLOCK_PROCESS_CPUTIME_ID;
  if (pid != 0 && clock_getcpuclockid(pid, &clock) != 0) return std::nullopt;
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return std::nullopt;
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

std::filesystem::path binDir() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path(".") : self.parent_path();
}

}  // namespace funkhaus::bench
