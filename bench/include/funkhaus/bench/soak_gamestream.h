// The chaos soak's GameStream viewer: Moonlight Embedded (pairing only) and gamestream_probe
// (tests/client/gamestream_probe, moonlight-common-c), both built by their scripts into the
// test-client cache outside the repository and run as separate processes (nothing of them is
// linked into funkhaus). Bench main thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "funkhaus/bench/funkhausd_host.h"
#include "funkhaus/bench/soak_host.h"
#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"

namespace funkhaus::bench {

struct GamestreamTools {
  std::string moonlight;  // Moonlight Embedded
  std::string probe;      // gamestream_probe
};

// Finds or builds both (the first build takes minutes). The error says which could not be had
// and why.
Result<GamestreamTools> prepareGamestreamTools();

// A free base port on loopback whose derived GameStream ports are free too; 0 if none.
uint16_t freeSoakGamestreamPort();

// Waits for funkhaus-web, then Moonlight Embedded pairs with `host` at `base_port` (its keys in
// `client_dir`/keys) while the PIN goes in through the control socket.
Result<void> pairGamestreamClient(const GamestreamTools& tools, const FunkhausdHost& host,
                                  uint16_t base_port, const std::filesystem::path& client_dir);

// One gamestream_probe run: launches the Desktop app, streams, decodes and lists every picture
// (--picture-luma), /cancels the app when it ends (--quit). stdout and stderr in files of
// `client_dir`.
class ProbeRun {
 public:
  static Result<ProbeRun> start(const GamestreamTools& tools, uint16_t base_port,
                                const std::filesystem::path& client_dir,
                                const BenchSettings& settings, uint32_t seconds);
  bool running() { return !process_.poll().has_value(); }
  // SIGTERM (the probe ends the stream and prints its summary), SIGKILL after 10 s; then the
  // summary. Idempotent as to the process; the files stay until the run directory goes.
  Result<ProbeSummary> finish();
  std::string stderrTail() const;
  uint64_t startedNs() const { return started_ns_; }

 private:
  ProbeRun(ChildProcess process, std::filesystem::path out, std::filesystem::path err,
           uint64_t started_ns)
      : process_(std::move(process)),
        out_(std::move(out)),
        err_(std::move(err)),
        started_ns_(started_ns) {}
  ChildProcess process_;
  std::filesystem::path out_, err_;
  uint64_t started_ns_ = 0;
};

}  // namespace funkhaus::bench
