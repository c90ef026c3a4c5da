// The real funkhaus-input, started the way funkhausd starts it (channel at fd 3, the input ring
// as kRingIn/kInput, the session's display in DISPLAY), under a real Xvfb.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/input_ring.h"
#include "funkhaus/test/fake_supervisor.h"
#include "x_recorder.h"
#include "xvfb_server.h"

namespace funkhaus::input {
namespace {

using abi::InputKind;
using capture::test::XvfbServer;
using funkhaus::test::FakeSupervisor;
using namespace std::chrono_literals;

abi::InputEvent key(InputKind kind, uint32_t vk) {
  abi::InputEvent e{};
  e.kind = static_cast<uint16_t>(kind);
  e.key.vk = vk;
  return e;
}

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
  EXPECT_EQ(abi::atomicLoad(s.viewers), 1u);  // devices: the X display
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

TEST_F(InputWorker, WithoutDisplayOrUinputThereIsNowhereToPutInput) {
  auto worker = startInput("", *ring_);
  ASSERT_TRUE(worker);
  EXPECT_TRUE(exitedWith(worker->waitExit(10s), abi::kExitUnsupported)) << worker->log();
}

}  // namespace
}  // namespace funkhaus::input
