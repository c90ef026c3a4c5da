// Multi-process frame ring tests: real producer and consumer processes over one memfd,
// 100k+ checksummed frames, and SIGKILL crash rounds on both sides with re-attach.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/abi/keyed_mutex_word.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/percentile.h"
#include "peer_process.h"

namespace funkhaus {
namespace {

using test::PeerProcess;

SharedMemory makeRing(uint32_t width, uint32_t height, uint32_t slots = 4) {
  FrameRingConfig config;
  config.name = "mp-test-frames";
  config.slot_count = slots;
  config.mode = *makeGeometry(abi::PixelFormat::kBgra, width, height);
  auto ring = createFrameRing(config);
  if (!ring) std::abort();
  return std::move(*ring);
}

const abi::FrameRingHeader& header(const SharedMemory& ring) {
  return *reinterpret_cast<const abi::FrameRingHeader*>(ring.data());
}

uint64_t consumed(const SharedMemory& ring) { return abi::atomicLoad(header(ring).consumed); }

// True once no slot is held by `pid`; returns how long that took, or nullopt after 1 s.
std::optional<uint64_t> waitUntilNoSlotHeldBy(const SharedMemory& ring, uint32_t pid,
                                              uint64_t since_ns) {
  auto layout = validateFrameRing(ring.data(), ring.size());
  const uint64_t deadline = monotonicNs() + 1'000'000'000;
  for (;;) {
    bool held = false;
    for (uint32_t i = 0; i < layout->slot_count; ++i) {
      const auto* slot = reinterpret_cast<const abi::FrameSlotHeader*>(
          ring.data() + layout->slots_offset + layout->slot_stride * i);
      const uint32_t w = abi::atomicLoad(slot->mutex);
      if ((w & abi::kMutexHeld) && (w & abi::kMutexValueMask) == pid) held = true;
    }
    const uint64_t now = monotonicNs();
    if (!held) return now - since_ns;
    if (now > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

bool waitConsumedBeyond(const SharedMemory& ring, uint64_t value, int timeout_ms) {
  const uint64_t deadline = monotonicNs() + uint64_t(timeout_ms) * 1'000'000;
  while (consumed(ring) <= value) {
    if (monotonicNs() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// Parses "peer-gone <pid> <ns>".
std::pair<uint32_t, uint64_t> parseGone(const std::string& line) {
  unsigned pid = 0;
  unsigned long long ns = 0;
  std::sscanf(line.c_str(), "peer-gone %u %llu", &pid, &ns);
  return {pid, ns};
}

void printFigures(const char* what, std::vector<uint64_t> ns) {
  std::sort(ns.begin(), ns.end());
  if (ns.empty()) return;
  std::printf("[figures] %s over %zu rounds: p50 %.1f ms, max %.1f ms\n", what, ns.size(),
              static_cast<double>(percentileOfSorted(std::span<const uint64_t>(ns), 0.50)) / 1e6,
              static_cast<double>(ns.back()) / 1e6);
}

TEST(RingMultiProcess, HundredThousandFramesWithoutATornOne) {
  constexpr uint64_t kFrames = 100'000;
  SharedMemory ring = makeRing(64, 16);  // 4 KiB frames
  PeerProcess consumer(ring.handle(), {"consumer", "--frames", std::to_string(kFrames)});
  ASSERT_TRUE(consumer.waitForLine("ready", 10'000));
  PeerProcess producer(ring.handle(), {"producer", "--payload", "4096", "--until-consumed",
                                       std::to_string(kFrames)});
  auto stats = consumer.waitForLine("stats", 300'000);
  ASSERT_TRUE(stats) << "consumer did not finish";
  EXPECT_NE(stats->find("frames=100000 torn=0"), std::string::npos) << *stats;
  const int cs = consumer.wait();
  EXPECT_TRUE(WIFEXITED(cs) && WEXITSTATUS(cs) == 0) << "consumer status " << cs;
  const int ps = producer.wait();
  EXPECT_TRUE(WIFEXITED(ps) && WEXITSTATUS(ps) == 0) << "producer status " << ps;
  EXPECT_GE(consumed(ring), kFrames);
  std::printf("[figures] published %llu, consumed %llu, overwritten %llu, dropped %llu\n",
              static_cast<unsigned long long>(abi::atomicLoad(header(ring).published)),
              static_cast<unsigned long long>(consumed(ring)),
              static_cast<unsigned long long>(abi::atomicLoad(header(ring).overwritten)),
              static_cast<unsigned long long>(abi::atomicLoad(header(ring).dropped)));
}

TEST(RingMultiProcess, SurvivesProducerKilledAtRandomPoints) {
  constexpr int kRounds = 50;
  SharedMemory ring = makeRing(256, 128);  // 128 KiB frames: kills often land mid-write
  PeerProcess consumer(ring.handle(), {"consumer"});
  ASSERT_TRUE(consumer.waitForLine("ready", 10'000));
  std::mt19937 rng(1234);
  std::vector<uint64_t> detect, recover;
  for (int round = 0; round < kRounds; ++round) {
    const uint64_t before = consumed(ring);
    PeerProcess producer(ring.handle(), {"producer", "--payload", "131072"});
    ASSERT_TRUE(producer.waitForLine("ready", 10'000)) << "round " << round;
    ASSERT_TRUE(waitConsumedBeyond(ring, before, 10'000))
        << "round " << round << ": restarted producer's frames never reached the consumer";
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
    const uint64_t killed_at = monotonicNs();
    producer.kill(SIGKILL);  // not reaped yet: a zombie must count as dead
    auto line = consumer.waitForLine("peer-gone", 2'000);
    ASSERT_TRUE(line) << "round " << round << ": consumer never noticed the producer died";
    auto [pid, seen_at] = parseGone(*line);
    EXPECT_EQ(pid, static_cast<uint32_t>(producer.pid()));
    detect.push_back(seen_at - killed_at);
    auto recovered = waitUntilNoSlotHeldBy(ring, pid, killed_at);
    ASSERT_TRUE(recovered) << "round " << round << ": a slot stays held by the dead producer";
    recover.push_back(*recovered);
    const int status = producer.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  printFigures("producer SIGKILL -> consumer notices", detect);
  printFigures("producer SIGKILL -> no slot held by it", recover);
  consumer.kill(SIGTERM);
  auto stats = consumer.waitForLine("stats", 5'000);
  ASSERT_TRUE(stats);
  EXPECT_NE(stats->find("torn=0"), std::string::npos) << *stats;
  const int cs = consumer.wait();
  EXPECT_TRUE(WIFEXITED(cs) && WEXITSTATUS(cs) == 0) << "the consumer survived every round";
  EXPECT_GT(abi::atomicLoad(header(ring).abandoned), 0u)
      << "some kills should have landed mid-write";
  std::printf("[figures] slots recovered from dead producers: %llu of %d kills\n",
              static_cast<unsigned long long>(abi::atomicLoad(header(ring).abandoned)), kRounds);
}

TEST(RingMultiProcess, SurvivesConsumerKilledAtRandomPoints) {
  constexpr int kRounds = 50;
  SharedMemory ring = makeRing(256, 128);
  PeerProcess producer(ring.handle(), {"producer", "--payload", "131072", "--interval-us", "200"});
  ASSERT_TRUE(producer.waitForLine("ready", 10'000));
  std::mt19937 rng(99);
  std::vector<uint64_t> detect, recover;
  for (int round = 0; round < kRounds; ++round) {
    const uint64_t before = consumed(ring);
    PeerProcess consumer(ring.handle(), {"consumer"});
    ASSERT_TRUE(consumer.waitForLine("ready", 10'000)) << "round " << round;
    ASSERT_TRUE(waitConsumedBeyond(ring, before, 10'000))
        << "round " << round << ": restarted consumer got no frame";
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
    const uint64_t killed_at = monotonicNs();
    consumer.kill(SIGKILL);
    auto line = producer.waitForLine("peer-gone", 2'000);
    ASSERT_TRUE(line) << "round " << round << ": producer never noticed the consumer died";
    auto [pid, seen_at] = parseGone(*line);
    EXPECT_EQ(pid, static_cast<uint32_t>(consumer.pid()));
    detect.push_back(seen_at - killed_at);
    auto recovered = waitUntilNoSlotHeldBy(ring, pid, killed_at);
    ASSERT_TRUE(recovered) << "round " << round << ": a slot stays held by the dead consumer";
    recover.push_back(*recovered);
    const int status = consumer.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "exit 3 would mean the consumer saw a torn frame; status " << status;
  }
  printFigures("consumer SIGKILL -> producer notices", detect);
  printFigures("consumer SIGKILL -> no slot held by it", recover);
  producer.kill(SIGTERM);
  const int ps = producer.wait();
  EXPECT_TRUE(WIFEXITED(ps) && WEXITSTATUS(ps) == 0) << "the producer survived every round";
}

TEST(RingMultiProcess, PeerCannotResizeTheSealedMemfd) {
  SharedMemory ring = makeRing(64, 16);
  PeerProcess peer(ring.handle(), {"resize"});
  auto line = peer.readLine(10'000);
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("grow=-1 errno=1 shrink=-1 errno=1"), std::string::npos) << *line;
  const int status = peer.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(ring.size(), validateFrameRing(ring.data(), ring.size())->total_size);
}

}  // namespace
}  // namespace funkhaus
