// The chaos soak's figures (funkhaus_soak, bench/README.md "Soak"): what one funkhausd leaves
// behind in /proc and /dev/shm, the pause a viewer saw around a fault, and the verdict against
// issue 18's targets. Pure functions except the /proc and /dev/shm readers. Bench main thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace funkhaus::bench {

// State letter and parent of one /proc/PID/stat line (the command may hold spaces and ')').
struct ProcStat {
  char state = '?';
  pid_t ppid = 0;
};
std::optional<ProcStat> parseProcStat(std::string_view stat_line);

// VmRSS of a /proc/PID/status text, kB; nullopt when absent.
std::optional<uint64_t> parseVmRssKb(std::string_view status_text);

// What funkhausd and its children hold at one moment.
struct HostSample {
  uint64_t at_ns = 0;        // CLOCK_MONOTONIC
  uint64_t fds = 0;          // funkhausd's /proc/PID/fd entries
  uint64_t rss_kb = 0;       // funkhausd's VmRSS
  uint64_t shm_files = 0;    // /dev/shm entries named funkhaus* owned by us
  uint64_t shm_bytes = 0;    // their sizes
  uint64_t memfds = 0;       // memfd links in /proc/P/fd of funkhausd and its live children
  uint64_t memfd_bytes = 0;  // the sizes of the distinct memfds among them
  uint64_t zombies = 0;      // children of funkhausd in state Z
  uint64_t children = 0;     // live children of funkhausd
};

// Reads the sample for funkhausd `pid` (its children from /proc/*/stat). An unreadable entry
// counts as absent (processes come and go while it reads).
HostSample sampleHost(pid_t pid, uint64_t at_ns);

// The pause a viewer saw around a fault at `at_ns`: the longest gap between two consecutive
// frame arrivals (sorted, ns) where the later one comes after `at_ns` and the earlier one no
// later than `at_ns + window_ns`. No frame after the fault up to `end_ns`: end_ns - the last
// frame (or end_ns - at_ns without any frame before). 0 when there is nothing to measure
// (no frame at all in [at_ns - window_ns, end_ns]). A gap that spans `next_fault_ns` (after the
// first frame that followed this fault) belongs to the next fault and is not counted here.
uint64_t pauseAround(const std::vector<uint64_t>& arrivals_ns, uint64_t at_ns, uint64_t window_ns,
                     uint64_t end_ns, uint64_t next_fault_ns = UINT64_MAX);

// Issue 18's targets for a soak and the verdict.
struct SoakTargets {
  double min_frame_ratio = 0.95;  // chaos frames / baseline frames, each viewer and in total
  uint64_t max_rss_growth_kb = 1024;
};

struct VerdictRow {
  std::string what, measured, target;
  bool met = false;
};

// frames per viewer slot in each phase (same order); `samples` from the start of the baseline
// to the end (at least two for the growth rows: first vs last).
std::vector<VerdictRow> soakVerdict(const std::vector<uint64_t>& baseline_frames,
                                    const std::vector<uint64_t>& chaos_frames,
                                    const std::vector<HostSample>& samples,
                                    const SoakTargets& targets = {});

}  // namespace funkhaus::bench
