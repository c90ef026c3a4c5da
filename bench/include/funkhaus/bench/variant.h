// Variant: one way of running the capture -> encode -> net pipeline that the benchmark measures
// (the real three processes under funkhausd, one thread in one process, three threads over the
// real rings), all from one host configuration. Bench main thread.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/abi/status_page.h"
#include "funkhaus/bench/machine.h"
#include "funkhaus/bench/rtp_sink.h"
#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/config.h"

namespace funkhaus::bench {

struct BenchSettings {
  uint32_t width = 1920;
  uint32_t height = 1080;
  uint32_t fps = 60;
  // The three-process variant arms a stats capture in its funkhausd while it runs (--stats:
  // the recorder's overhead), stops and removes it at the end.
  bool stats_capture = false;
};

// The host configuration every variant runs: [capture] the benchmark's mode, [net] on
// 127.0.0.1 with a free RTSP port, the control socket given, everything else funkhausd's
// defaults (libx264, superfast, 8 Mbit/s, ...).
std::string hostConfigToml(const BenchSettings& settings, const std::string& control_socket);
// The same text parsed as funkhausd parses it.
Result<supervisor::Config> hostConfig(const BenchSettings& settings);

// argv of a worker as funkhausd would start it ("funkhaus-NAME" then workerArgs()), so the
// in-process variants parse exactly the arguments the real workers get.
std::vector<std::string> workerArgv(const std::string& worker, const supervisor::Config& config);
// argv-style pointers into `args` (ends with nullptr), for the workers' argument parsers.
std::vector<char*> argvOf(std::vector<std::string>& args);

// Capture -> this stage's output over the last 5 s, as the stage's status page shows it, and the
// stage's own time (its input taken -> its output handed on; 0: not measured).
struct StageFigure {
  std::string name;
  double fps = 0, p50_ms = 0, p99_ms = 0;
  double stage_p50_ms = 0, stage_p99_ms = 0;
};

// The figures of the in-process variants' capture, encode and net status pages.
std::vector<StageFigure> stageFigures(const std::array<abi::WorkerStatusPage, 3>& pages);

struct ProcessCpu {
  std::string name;
  std::optional<uint64_t> cpu_ns;
};

class Variant {
 public:
  virtual ~Variant() = default;
  virtual const char* name() const = 0;
  // Starts the pipeline with its frames going to `sink` (whose thread already runs).
  virtual Result<void> start(RtpSink& sink) = 0;
  // capture, encode and net figures of the stages' status pages.
  virtual Result<std::vector<StageFigure>> stages() = 0;
  // CPU used so far by each process of the variant, the bench's own (with the sink) included.
  virtual std::vector<ProcessCpu> cpu() const = 0;
  // Called every few seconds while the run lasts (the RTSP variants send a keep-alive).
  virtual Result<void> keepAlive() { return {}; }
  // Stops the pipeline; nothing of it runs afterwards.
  virtual Result<void> stop() = 0;
  // Lines to print after the run (counters, checks) about frames captured in [from_ns, to_ns);
  // `sink` is stopped.
  virtual std::vector<std::string> notes(const RtpSink& sink, uint64_t from_ns,
                                         uint64_t to_ns) const = 0;
};

// funkhausd (user mode) from `bin_dir` with the workers beside it, its config and control
// socket in a fresh directory under `work_root`; the sink plays it through RTSP over UDP.
std::unique_ptr<Variant> makeThreeProcessVariant(const BenchSettings& settings,
                                                 std::filesystem::path bin_dir,
                                                 std::filesystem::path work_root);
// Synthetic source, encoder, RTP packetizer and UDP send called in sequence on one thread.
std::unique_ptr<Variant> makeSingleThreadVariant(const BenchSettings& settings);
// The three stages as threads of this process, connected by the real rings; the net stage is
// the real NetServer and the sink plays it through RTSP over UDP.
std::unique_ptr<Variant> makeThreadedVariant(const BenchSettings& settings);

}  // namespace funkhaus::bench
