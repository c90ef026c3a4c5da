// The funkhaus-net worker: its command line and NetStage, the stage the worker runtime runs
// (common/worker_runtime.h): the page, the ring reader and NetCore on an Asio loop that each step
// runs for its budget. funkhaus-net's main thread (plus the ring readers').
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>

#include "funkhaus/common/result.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/common/worker_runtime.h"
#include "funkhaus/net/net_core.h"
#include "funkhaus/net/net_options.h"
#include "funkhaus/net/net_state.h"
#include "funkhaus/net/ring_reader.h"

namespace funkhaus::net {

// Parses --path, --max-viewers, --mtu, --session-timeout and --header-timeout-ms. nullopt:
// --help was printed. The error names the bad argument.
Result<std::optional<NetOptions>> parseNetOptions(int argc, char** argv);

class NetStage final : public WorkerStage {
 public:
  explicit NetStage(NetOptions options) : options_(std::move(options)) {}

  // Attaches the net state page and the packet ring (and the audio ring when the session has
  // one), takes the endpoints and the kept connections and starts serving (NetCore::create).
  // Errors: kBadConfig for a missing or wrong handle, kAttachFailed for a page or ring that does
  // not check out.
  Result<void> start(WorkerContext& context) override;
  // Runs the loop for the budget.
  Result<void> step(int64_t budget_ns) override;
  void publish(abi::WorkerStatusPage& page, uint64_t now_ns) override;
  void stop() override;

 private:
  NetOptions options_;
  WorkerContext* context_ = nullptr;
  boost::asio::io_context io_;
  std::optional<NetState> state_;
  std::unique_ptr<NetCore> core_;
  // Last: their threads stop before the rest goes.
  std::unique_ptr<RingReader> reader_;
  std::unique_ptr<RingReader> audio_reader_;  // only when the session has an audio ring
  StageStats stats_;
  bool running_ = false;
};

// Runs funkhaus-net on the worker runtime. Returns the exit code (abi/exit_codes.h).
int runNetWorker(const NetOptions& options);

}  // namespace funkhaus::net
