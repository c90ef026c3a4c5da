// WorkerProcess (a worker's lives: hello, hand-over, ready, heartbeat, the restart policy) on the
// Windows launcher, with real workers under Wine and the real clock: a worker ended with
// TerminateProcess, as `taskkill /F` ends it, is started again and is ready after its backoff; one
// whose heartbeat stops is killed and started again; stop() ends it with the stop command.
#include <utility>
// Asio before windows.h (process_launcher.h includes it).
#include <boost/asio.hpp>
// Then windows.h.
#include <windows.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "child_process.h"
#include "funkhaus/abi/abi.h"
#include "funkhaus/common/worker_runtime.h"
#include "funkhaus/platform/handle_passing.h"
#include "funkhaus/supervisor/worker_process.h"

namespace funkhaus {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using supervisor::LaunchSpec;
using supervisor::ProcessLauncher;
using supervisor::WorkerProcess;
using supervisor::WorkerState;

// Child, an encode worker on the worker runtime (runWorker: channel, hand-over, ready, heartbeat
// every turn, the stop command). MODE "hang": its step never returns after the first, so the
// heartbeat stops. It counts keyframe commands in its page's frames_out.
class TestStage final : public WorkerStage {
 public:
  explicit TestStage(bool hang) : hang_(hang) {}
  Result<void> start(WorkerContext&) override { return {}; }
  Result<void> step(int64_t budget_ns) override {
    if (hang_ && ++steps_ > 1) Sleep(INFINITE);
    Sleep(static_cast<DWORD>(budget_ns / 1'000'000));
    return {};
  }
  void onCommand(const abi::CommandBody& command) override {
    if (command.command == static_cast<uint32_t>(abi::Command::kKeyframe)) ++keyframes_;
  }
  void publish(abi::WorkerStatusPage& page, uint64_t) override {
    abi::atomicRef(page.frames_out).store(keyframes_, std::memory_order_release);
  }

 private:
  bool hang_;
  int steps_ = 0;
  uint64_t keyframes_ = 0;
};

int runtimeWorkerRole(int, char** argv) {
  TestStage stage(std::string(argv[1]) == "hang");
  RuntimeOptions options;
  options.kind = abi::WorkerKind::kEncode;
  options.name = "test-encode";
  return runWorker(stage, options);
}
test::ChildRole runtime_worker_role("runtime-worker", runtimeWorkerRole);

struct Owner : WorkerProcess::Delegate {
  explicit Owner(std::string worker_mode) : mode(std::move(worker_mode)) {}

  Result<LaunchSpec> prepareLaunch(WorkerProcess&) override {
    LaunchSpec spec;
    spec.path = test::selfProgram();
    spec.args = {"--child", "runtime-worker", mode};
    return spec;
  }
  std::vector<supervisor::HandedFd> handOver(WorkerProcess&) override { return {}; }
  void onReady(WorkerProcess&) override { ++readies; }
  void onEvent(WorkerProcess&, const abi::EventBody&) override {}
  Result<void> onConnection(WorkerProcess&, Message&) override {
    return makeError("no deposits here");
  }
  void onRequest(WorkerProcess&, uint32_t, const std::string&) override {}
  void onReaped(WorkerProcess&, uint32_t pid) override { reaped.push_back(pid); }
  void onEscalate(WorkerProcess&) override { ++escalations; }
  void onChanged(WorkerProcess&) override {}

  std::string mode;
  int readies = 0, escalations = 0;
  std::vector<uint32_t> reaped;
};

const supervisor::WorkerSpec kEncodeRow{.name = "encode",
                                        .binary = "funkhaus-encode",
                                        .kind = abi::WorkerKind::kEncode,
                                        .commands = {abi::Command::kStop, abi::Command::kKeyframe}};

class WorkerProcessWindows : public testing::Test {
 protected:
  // Runs the loop and the worker's tick until `done`; false after 30 s.
  bool runUntil(WorkerProcess& worker, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.restart();
      io_.run_for(5ms);
      worker.tick();
    }
    return true;
  }

  asio::io_context io_;
  std::unique_ptr<ProcessLauncher> launcher_ = ProcessLauncher::createPlatform(io_);
  std::unique_ptr<Clock> clock_ = Clock::createSteady();
};

TEST_F(WorkerProcessWindows, AWorkerEndedLikeTaskkillIsStartedAgainAndReady) {
  Owner owner("beat");
  WorkerProcess worker(kEncodeRow, supervisor::RestartPolicyConfig{}, supervisor::WorkerTimings{},
                       *launcher_, *clock_, owner);
  worker.start();
  ASSERT_TRUE(runUntil(worker, [&] { return worker.state() == WorkerState::kRunning; }))
      << toString(worker.state()) << " " << worker.failure();
  ASSERT_TRUE(worker.command(abi::Command::kKeyframe).ok());
  ASSERT_TRUE(runUntil(worker, [&] {
    return abi::atomicLoad(worker.statusPage()->frames_out) == 1;
  })) << "the stage took the command";
  const uint32_t first = *worker.pid();
  platform::UniqueHandle process(OpenProcess(PROCESS_TERMINATE, FALSE, first));
  ASSERT_TRUE(process.valid());
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(TerminateProcess(process.get(), 1));  // what taskkill /F does
  ASSERT_TRUE(runUntil(worker, [&] { return owner.readies == 2; }))
      << toString(worker.state()) << " " << worker.failure();
  std::printf(
      "[ figures  ] TerminateProcess to its successor ready: %.1f ms (backoff 100 ms)\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed).count());
  EXPECT_EQ(worker.state(), WorkerState::kRunning);
  EXPECT_NE(*worker.pid(), first);
  EXPECT_EQ(worker.restarts(), 1);
  ASSERT_TRUE(worker.lastExit().has_value());
  EXPECT_EQ(worker.lastExit()->code, 1);
  EXPECT_EQ(owner.reaped, std::vector<uint32_t>{first});
  EXPECT_EQ(owner.escalations, 0);

  worker.stop();
  ASSERT_TRUE(runUntil(worker, [&] { return worker.state() == WorkerState::kStopped; }));
  ASSERT_TRUE(worker.lastExit().has_value());
  EXPECT_EQ(worker.lastExit()->code, 0) << "it stopped on the stop command, not killed";
  EXPECT_EQ(owner.reaped.size(), 2u);
}

TEST_F(WorkerProcessWindows, AWorkerWhoseHeartbeatStopsIsKilledAndStartedAgain) {
  Owner owner("hang");
  supervisor::WorkerTimings timings;
  timings.heartbeat_timeout = 300ms;
  WorkerProcess worker(kEncodeRow, supervisor::RestartPolicyConfig{}, timings, *launcher_, *clock_,
                       owner);
  worker.start();
  ASSERT_TRUE(runUntil(worker, [&] { return owner.readies == 2; }))
      << toString(worker.state()) << " " << worker.failure();
  EXPECT_EQ(worker.restarts(), 1);
  ASSERT_TRUE(worker.lastExit().has_value());
  EXPECT_EQ(worker.lastExit()->code, abi::kExitFailure) << "killed: TerminateProcess's code";
  worker.stop();
  ASSERT_TRUE(runUntil(worker, [&] { return worker.state() == WorkerState::kStopped; }));
}

// Started by hand, not by funkhausd: no channel named, and standalone runs not allowed.
TEST(WorkerRuntimeWindows, WithoutFunkhausdItExitsBadConfig) {
  SetEnvironmentVariableA(platform::kChannelPipeVariable, nullptr);
  test::Child worker = test::spawnSelf("runtime-worker", {"beat"});
  EXPECT_EQ(test::exitCodeOf(worker), abi::kExitBadConfig);
}

// A channel named that does not exist: the worker cannot reach funkhausd.
TEST(WorkerRuntimeWindows, AChannelThatCannotBeOpenedIsPeerLost) {
  SetEnvironmentVariableA(platform::kChannelPipeVariable, R"(\\.\pipe\funkhaus-nobody-here)");
  test::Child worker = test::spawnSelf("runtime-worker", {"beat"});
  SetEnvironmentVariableA(platform::kChannelPipeVariable, nullptr);
  EXPECT_EQ(test::exitCodeOf(worker), abi::kExitPeerLost);
}

}  // namespace
}  // namespace funkhaus
