// Minimal worker: hello, ready, heartbeat, stop.
#include "funkhaus/common/minimal_worker.h"

#include <signal.h>

#include <atomic>
#include <cstdio>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/worker_channel.h"

namespace funkhaus {
namespace {

std::atomic<bool> g_terminate{false};
void onTerm(int) { g_terminate.store(true); }

}  // namespace

int runMinimalWorker(abi::WorkerKind kind, const char* name) {
  struct sigaction sa {};
  sa.sa_handler = onTerm;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  auto channel = WorkerChannel::connect(kWorkerChannelFd, kind);
  if (!channel) {
    std::fprintf(stderr, "%s: %s\n", name, channel.error().message.c_str());
    return abi::kExitPeerLost;
  }
  if (auto ready = channel->sendReady(); !ready) {
    std::fprintf(stderr, "%s: %s\n", name, ready.error().message.c_str());
    return abi::kExitPeerLost;
  }
  channel->setState(abi::WorkerState::kRunning);
  std::fprintf(stderr, "%s: ready (minimal worker: no frames yet)\n", name);
  while (!g_terminate.load()) {
    channel->heartbeat();
    auto command = channel->waitCommand(50);
    if (!command) {
      std::fprintf(stderr, "%s: %s\n", name, command.error().message.c_str());
      return abi::kExitPeerLost;
    }
    if (command->has_value() && (*command)->command == static_cast<uint32_t>(abi::Command::kStop))
      break;
  }
  channel->setState(abi::WorkerState::kStopping);
  return abi::kExitStopped;
}

}  // namespace funkhaus
