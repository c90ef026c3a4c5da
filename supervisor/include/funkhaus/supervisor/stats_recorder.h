// The stats recorder: a capture an operator arms at run time (funkhausctl stats start), sampled
// once per 1 s boundary from what funkhausd already reads (the status JSON: status pages, ring
// counters, the latency split, restarts) and /proc (CPU, RSS per worker pid), saved as one JSON
// file per capture under <state dir>/stats. funkhausd's event loop thread; not armed, its tick
// only loads a flag. Status pages are untrusted numbers: recorded, never acted on.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::supervisor {

// 3 h at one sample a second: past that a capture is truncated (its start kept).
inline constexpr size_t kMaxStatsSamples = 10'800;
inline constexpr std::string_view kStatsFormat = "funkhaus-stats/1";

// ^[A-Za-z0-9._-]+$, 1 to 64 characters, not "." or "..": checked before any path is built.
inline bool validStatsId(std::string_view id) {
  if (id.empty() || id.size() > 64 || id == "." || id == "..") return false;
  for (const char c : id)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}
// A capture's id from its start time (UTC) and name: YYYYMMDD-HHMMSS[-name, other characters
// as '-'], at most 64 characters.
std::string statsId(int64_t unix_ms, std::string_view name);

// What /proc says of one process: CPU time so far and resident memory.
struct ProcessUsage {
  double cpu_seconds = 0;
  double rss_bytes = 0;
};
// A capture's JSON with only the samples [from, from + count) (count 0: to the end) of `t` and
// of every series, and "from" and "samples" (all of them) added: a page small enough for a
// worker channel's 64 KiB reply.
nlohmann::json statsSlice(const nlohmann::json& capture, size_t from, size_t count);

// /proc/<pid>/stat (utime + stime) and /proc/<pid>/statm (resident); none when unreadable.
std::optional<ProcessUsage> readProcessUsage(int pid);

struct StatsRecorderOptions {
  std::string dir;            // <state dir>/stats: created 0700, owned by funkhausd's user
  std::string host;           // recorded in each capture
  bool create_parent = true;  // user mode; system mode's /var/lib/funkhaus is the package's
  size_t max_samples = kMaxStatsSamples;
  size_t flush_every = 10;           // samples between saves of the armed capture (complete=false)
  std::function<int64_t()> unix_ms;  // wall clock
  std::function<std::optional<ProcessUsage>(int pid)> process_usage;  // readProcessUsage
};

class StatsRecorder {
 public:
  explicit StatsRecorder(StatsRecorderOptions options);
  ~StatsRecorder();
  StatsRecorder(const StatsRecorder&) = delete;
  StatsRecorder& operator=(const StatsRecorder&) = delete;

  // Creates or checks the directory (a real directory of ours, 0700) and lists the captures in
  // it: one armed when an earlier funkhausd died is listed with complete=false.
  Result<void> open();

  // Arms a capture; `status` (funkhausd's status JSON) is the baseline of the first interval.
  Result<std::string> start(std::string_view name, TimePoint now, const nlohmann::json& status);
  struct Stopped {
    std::string id;
    size_t samples = 0;
  };
  // Stops the armed capture and saves it (complete=true).
  Result<Stopped> stop();
  bool armed() const { return armed_.load(std::memory_order_relaxed); }

  // Funkhausd's tick: at each 1 s boundary of an armed capture, one sample from `status()`
  // (called only then); saved every `flush_every` samples.
  void tick(TimePoint now, const std::function<nlohmann::json()>& status);

  // {"armed": id|null, "captures": [{id, name, started_unix_ms, stopped_unix_ms, samples,
  // truncated, complete}]}, oldest first.
  nlohmann::json list() const;
  // A capture's JSON (the armed one up to its last boundary).
  Result<nlohmann::json> show(std::string_view id) const;
  Result<void> remove(std::string_view id);

 private:
  struct Summary {
    std::string name;
    int64_t started_unix_ms = 0;
    std::optional<int64_t> stopped_unix_ms;
    size_t samples = 0;
    bool truncated = false;
    bool complete = false;
  };
  // The previous sample of one worker (per-interval deltas, CPU).
  struct Previous {
    std::optional<int64_t> pid;
    std::optional<uint64_t> drops, errors, bytes_out;
    std::optional<int64_t> restarts;
    std::optional<double> cpu_seconds;
  };
  struct Capture {
    std::string id, name;
    int64_t started_unix_ms = 0;
    std::optional<int64_t> stopped_unix_ms;
    bool truncated = false;
    bool complete = false;
    TimePoint started;
    TimePoint last;  // the last sample (or the start)
    TimePoint next;  // the next boundary
    std::vector<int64_t> t;
    std::map<std::string, std::vector<double>> series;  // NaN: null
    std::map<std::string, Previous> previous;           // by worker name
  };

  void sample(Capture& c, TimePoint now, const nlohmann::json& status);
  // Reads the per-worker baseline (or the next values) without recording.
  void record(Capture& c, const nlohmann::json& status, double dt_s, bool store);
  nlohmann::json captureJson(const Capture& c) const;
  Result<void> save(const Capture& c);
  Summary summaryOf(const Capture& c) const;

  StatsRecorderOptions options_;
  UniqueFd dir_fd_;
  std::string open_error_ = "not opened";
  std::atomic<bool> armed_{false};
  std::optional<Capture> capture_;
  std::map<std::string, Summary> saved_;  // by id
};

}  // namespace funkhaus::supervisor
