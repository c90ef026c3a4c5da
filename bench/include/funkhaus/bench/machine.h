// What the benchmarks report about the machine and their own processes: the CPU model, the busy
// time of all CPUs, a process's CPU time, the directory of the running binary. Any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace funkhaus::bench {

// The first "model name" of /proc/cpuinfo, or "unknown CPU".
std::string cpuModel();

// Busy time of all CPUs of the machine so far (user, nice, system, irq, softirq, steal), ns;
// tick-based (/proc/stat). 0 if it cannot be read.
uint64_t machineBusyNs();

// CPU time (user + system) one process has used so far, or nullopt if it is gone; 0: this one.
std::optional<uint64_t> processCpuNs(pid_t pid);

// The directory of the running executable (funkhausd and the workers are built beside the
// benchmarks), "." if /proc/self/exe cannot be read.
std::filesystem::path binDir();

}  // namespace funkhaus::bench
