// The real funkhaus-input, started the way funkhausd starts it (channel at fd 3, the input ring
// as kRingIn/kInput, the session's display in DISPLAY), under a real Xvfb.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/input_ring.h"
#include "funkhaus/test/fake_supervisor.h"
#include "input_events.h"
#include "x_recorder.h"
#include "xvfb_server.h"

namespace funkhaus::input {
namespace {

using abi::InputKind;
using capture::test::XvfbServer;
using funkhaus::test::FakeSupervisor;
using namespace std::chrono_literals;

using test::key;

std::unique_ptr<FakeSupervisor> startInput(const std::string& display, const SharedMemory& ring) {
  std::vector<std::string> env;
  env.push_back(display.empty() ? "DISPLAY" : "DISPLAY=" + display);
  auto worker = FakeSupervisor::start({FUNKHAUS_INPUT_BIN, {}, abi::WorkerKind::kInput, env});
  if (!worker) {
    ADD_FAILURE() << worker.error().message;
    return nullptr;
  }
  auto w = std::make_unique<FakeSupervisor>(std::move(*worker));
  auto handed = w->handOver(
      {{abi::FdRole::kRingIn, static_cast<uint32_t>(abi::RingId::kInput), ring.handle()}});
  if (!handed) ADD_FAILURE() << handed.error().message << "\n" << w->log();
  return w;
}

// Polls `done` for up to 5 s.
template <class F>
bool eventually(F done) {
  const uint64_t end = monotonicNs() + 5'000'000'000;
  while (monotonicNs() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

bool exitedWith(const std::optional<platform::ExitStatus>& status, int code) {
  return status && !status->signaled && status->code == code;
}

class InputWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    xvfb_ = XvfbServer::start(1280, 720, &why);
    if (!xvfb_) GTEST_SKIP() << why;
    recorder_.emplace(xvfb_->display());
    ASSERT_TRUE(recorder_->ok());
    InputRingConfig config;
    config.slot_count = 256;
    auto ring = createInputRing(config);
    ASSERT_TRUE(ring) << ring.error().message;
    ring_.emplace(std::move(*ring));
    auto shm = SharedMemory::attachDup(ring_->handle());
    ASSERT_TRUE(shm);
    auto producer = InputProducer::attach(std::move(*shm));
    ASSERT_TRUE(producer) << producer.error().message;
    producer_.emplace(std::move(*producer));
  }

  std::unique_ptr<XvfbServer> xvfb_;
  std::optional<test::Recorder> recorder_;
  std::optional<SharedMemory> ring_;
  std::optional<InputProducer> producer_;
};

TEST_F(InputWorker, TypesIntoTheSessionAndReportsInItsStatusPage) {
  auto worker = startInput(xvfb_->display(), *ring_);
  ASSERT_TRUE(worker);
  ASSERT_TRUE(worker->waitReady()) << worker->log();
  for (const auto& e : {key(InputKind::kKeyDown, 0xA0), key(InputKind::kKeyDown, 0x41),
                        key(InputKind::kKeyUp, 0x41), key(InputKind::kKeyUp, 0xA0),
                        key(InputKind::kKeyDown, 0x42), key(InputKind::kKeyUp, 0x42)})
    ASSERT_TRUE(producer_->publish(e));
  std::vector<uint32_t> typed;
  EXPECT_TRUE(eventually([&] {
    for (uint32_t ks : recorder_->typed()) typed.push_back(ks);
    return typed.size() >= 2;
  })) << worker->log();
  EXPECT_EQ(typed, (std::vector<uint32_t>{XK_A, XK_b}));
  const auto& s = worker->status();
  EXPECT_TRUE(eventually([&] { return abi::atomicLoad(s.frames_out) == 6; })) << worker->log();
  EXPECT_EQ(abi::atomicLoad(s.frames_in), 6u);
  EXPECT_EQ(abi::atomicLoad(s.drops), 0u);
  EXPECT_EQ(abi::atomicLoad(s.devices), 1u);  // the X display
  EXPECT_EQ(abi::atomicLoad(s.state), static_cast<uint32_t>(abi::WorkerState::kRunning));
  EXPECT_TRUE(exitedWith(worker->stop(), abi::kExitStopped)) << worker->log();
}

TEST_F(InputWorker, ASuccessorReleasesTheKeysOfAKilledWorker) {
  auto first = startInput(xvfb_->display(), *ring_);
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->waitReady()) << first->log();
  ASSERT_TRUE(producer_->publish(key(InputKind::kKeyDown, 0xA2)));  // left Ctrl
  ASSERT_TRUE(producer_->publish(key(InputKind::kKeyDown, 0x43)));
  EXPECT_TRUE(eventually([&] { return recorder_->keysDown().size() == 2; })) << first->log();
  const pid_t pid = first->pid();
  first->kill9();
  first.reset();
  // What funkhausd does after it reaped a worker.
  ASSERT_TRUE(releaseInputRingPeer(*ring_, static_cast<uint32_t>(pid)));
  EXPECT_EQ(recorder_->keysDown().size(), 2u);  // stuck until the successor comes

  auto second = startInput(xvfb_->display(), *ring_);
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->waitReady()) << second->log();
  EXPECT_TRUE(eventually([&] { return recorder_->keysDown().empty(); })) << second->log();
  EXPECT_TRUE(exitedWith(second->stop(), abi::kExitStopped)) << second->log();
}

// CPU seconds a process has used (utime + stime of /proc/PID/stat).
double cpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A client flooding 100 000 events/s (keys and mouse moves) for 2 s: the ring overwrites what
// the worker cannot take (counted), net never waits, the X server stays responsive, and once the
// flood ends the worker is at the newest state at once: no key stuck, the next key typed.
// Figures, not assertions, for the rates and round trips.
TEST_F(InputWorker, AFloodIsDroppedAndCountedAndTheNewestStateWins) {
  auto worker = startInput(xvfb_->display(), *ring_);
  ASSERT_TRUE(worker);
  ASSERT_TRUE(worker->waitReady()) << worker->log();
  constexpr uint64_t kRate = 100'000, kSeconds = 2;
  std::atomic<bool> flooding{true};
  std::vector<double> round_trips_ms;  // X server round trips from another client meanwhile
  std::thread prober([&] {
    while (flooding.load()) {
      const uint64_t t0 = monotonicNs();
      recorder_->sync();
      round_trips_ms.push_back(static_cast<double>(monotonicNs() - t0) / 1e6);
      std::this_thread::sleep_for(10ms);
    }
  });
  const double cpu_before = cpuSeconds(worker->pid());
  const uint64_t start = monotonicNs();
  uint64_t sent = 0, publish_ns = 0;
  abi::InputEvent move{};
  move.kind = static_cast<uint16_t>(InputKind::kMouseMove);
  move.pointer.x = 1;
  while (sent < kRate * kSeconds) {
    // Paced in bursts of 100 (a client's packets come in bursts too).
    const uint64_t due = start + sent * 1'000'000'000 / kRate;
    while (monotonicNs() < due) std::this_thread::yield();
    const uint64_t t0 = monotonicNs();
    for (int i = 0; i < 100; ++i, ++sent) {
      const uint32_t n = static_cast<uint32_t>(sent % 4);
      move.pointer.x = (n & 1) ? 1 : -1;
      ASSERT_TRUE(producer_->publish(n == 0   ? key(InputKind::kKeyDown, 0x41)
                                     : n == 2 ? key(InputKind::kKeyUp, 0x41)
                                              : move));
    }
    publish_ns += monotonicNs() - t0;
  }
  const double flood_s = static_cast<double>(monotonicNs() - start) / 1e9;
  flooding = false;
  prober.join();
  const double cpu = cpuSeconds(worker->pid()) - cpu_before;
  // The last event was a key-up: nothing may stay down, and the next key arrives.
  EXPECT_TRUE(eventually([&] { return recorder_->keysDown().empty(); })) << worker->log();
  (void)recorder_->typed();
  ASSERT_TRUE(producer_->publish(key(InputKind::kKeyDown, 0x42)));
  ASSERT_TRUE(producer_->publish(key(InputKind::kKeyUp, 0x42)));
  std::vector<uint32_t> typed;
  EXPECT_TRUE(eventually([&] {
    for (uint32_t ks : recorder_->typed()) typed.push_back(ks);
    return !typed.empty() && typed.back() == XK_b;
  })) << worker->log();
  const auto& s = worker->status();
  const uint64_t in = abi::atomicLoad(s.frames_in), drops = abi::atomicLoad(s.drops);
  EXPECT_EQ(abi::atomicLoad(s.state), static_cast<uint32_t>(abi::WorkerState::kRunning));
  EXPECT_GT(in + drops, 0u);
  std::sort(round_trips_ms.begin(), round_trips_ms.end());
  const auto at = [&](double q) {
    return round_trips_ms.empty()
               ? 0.0
               : round_trips_ms[static_cast<size_t>(q * (round_trips_ms.size() - 1))];
  };
  std::printf(
      "[figures] input flood %llu events in %.2f s (%.0f/s; publish %.0f ns/event): worker read "
      "%llu, dropped %llu (overrun), used %.0f %% of a core; X round trips meanwhile p50 %.2f / "
      "p99 %.2f ms (%zu)\n",
      static_cast<unsigned long long>(sent), flood_s, static_cast<double>(sent) / flood_s,
      static_cast<double>(publish_ns) / static_cast<double>(sent),
      static_cast<unsigned long long>(in), static_cast<unsigned long long>(drops),
      100.0 * cpu / flood_s, at(0.5), at(0.99), round_trips_ms.size());
  EXPECT_TRUE(exitedWith(worker->stop(), abi::kExitStopped)) << worker->log();
}

TEST_F(InputWorker, WithoutDisplayOrUinputThereIsNowhereToPutInput) {
  auto worker = startInput("", *ring_);
  ASSERT_TRUE(worker);
  EXPECT_TRUE(exitedWith(worker->waitExit(10s), abi::kExitUnsupported)) << worker->log();
}

}  // namespace
}  // namespace funkhaus::input
