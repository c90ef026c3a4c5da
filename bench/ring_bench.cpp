// Ring benchmarks, producer in this process and consumer in a forked child process:
//   HandoffLatency  publish -> consumer holds the token (one-way, CLOCK_MONOTONIC), p50/p99,
//                   futex wait and busy-poll.
//   FrameHandoff    round trip of one frame (publish, take, release, ack) through the ring
//                   versus the same frame's bytes through a Unix socket, at 1 KiB, 1080p, 4K.
// After the run it prints the socket/ring ratio per size.
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/percentile.h"
#include "funkhaus/platform/cpu_relax.h"

namespace {

using namespace funkhaus;

// Memory shared with the forked consumer: an ack counter and the latency samples it measured.
struct Shared {
  std::atomic<uint64_t> acks{0};
  std::atomic<bool> stop{false};
  static constexpr size_t kMaxSamples = 1 << 20;
  uint64_t samples[kMaxSamples];
};

Shared* mapShared() {
  void* p =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::abort();
  return new (p) Shared();
}

void waitAck(Shared* s, uint64_t expected) {
  while (s->acks.load(std::memory_order_acquire) < expected) platform::cpuRelax();
}

void stopChild(pid_t child) {
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

SharedMemory makeRing(uint32_t width, uint32_t height) {
  FrameRingConfig config;
  config.name = "bench-frames";
  config.slot_count = 3;
  config.mode = *makeGeometry(abi::PixelFormat::kBgra, width, height);
  auto ring = createFrameRing(config);
  if (!ring) std::abort();
  return std::move(*ring);
}

// Consumer child: takes each frame, records its one-way latency, releases it, acks.
[[noreturn]] void ringConsumerChild(int fd, Shared* s, FrameConsumer::WaitMode mode) {
  auto consumer = FrameConsumer::attach(*SharedMemory::attachDup(fd), mode);
  if (!consumer) _exit(2);
  uint64_t n = 0;
  for (;;) {
    FrameConsumer::Frame f;
    if (consumer->acquireLatest(1'000'000'000, &f) != FrameConsumer::Status::kFrame) continue;
    const uint64_t now = monotonicNs();
    benchmark::DoNotOptimize(f.payload[0]);
    s->samples[n % Shared::kMaxSamples] = now - f.capture_time_ns;
    consumer->release(f);
    s->acks.store(++n, std::memory_order_release);
  }
}

// With `latency` set, each iteration's time is the consumer's one-way latency (manual time),
// and the producer idles 200 us before each frame so that a futex consumer is really asleep
// when the frame arrives, as it is between frames of a 60 fps stream.
void runRing(benchmark::State& state, uint32_t w, uint32_t h, FrameConsumer::WaitMode mode,
             bool latency) {
  SharedMemory ring = makeRing(w, h);
  Shared* s = mapShared();
  pid_t child = fork();
  if (child == 0) ringConsumerChild(ring.handle(), s, mode);
  auto producer = FrameProducer::attach(*SharedMemory::attachDup(ring.handle()));
  if (!producer) std::abort();
  uint64_t n = 0;
  for (auto _ : state) {
    if (latency) {
      const uint64_t until = monotonicNs() + 200'000;
      while (monotonicNs() < until) platform::cpuRelax();
    }
    auto slot = producer->beginFrame();
    if (!slot) {
      state.SkipWithError("producer found no free slot");
      break;
    }
    slot->payload[0] = std::byte(n);  // the capture side writes in place: nothing is copied
    FrameMeta meta;
    meta.capture_time_ns = monotonicNs();
    producer->publish(*slot, meta);
    waitAck(s, ++n);
    if (latency)
      state.SetIterationTime(static_cast<double>(s->samples[(n - 1) % Shared::kMaxSamples]) / 1e9);
  }
  stopChild(child);
  const size_t count = std::min<uint64_t>(n, Shared::kMaxSamples);
  if (latency && count > 0) {
    std::vector<uint64_t> v(s->samples, s->samples + count);
    std::sort(v.begin(), v.end());
    const std::span<const uint64_t> sorted(v);
    state.counters["p50_us"] = static_cast<double>(percentileOfSorted(sorted, 0.50)) / 1e3;
    state.counters["p99_us"] = static_cast<double>(percentileOfSorted(sorted, 0.99)) / 1e3;
  }
  state.SetBytesProcessed(static_cast<int64_t>(n) * w * h * 4);
  munmap(s, sizeof(Shared));
}

void BM_HandoffLatencyFutex(benchmark::State& state) {
  runRing(state, 16, 16, FrameConsumer::WaitMode::kFutex, true);
}
void BM_HandoffLatencyBusyPoll(benchmark::State& state) {
  runRing(state, 16, 16, FrameConsumer::WaitMode::kBusyPoll, true);
}

// Baseline for the futex numbers: the same one-way wake-up (200 us idle gap, timestamp sent by
// the producer, latency measured by the woken consumer) through a pipe the child blocks in.
// Whatever the kernel and the hypervisor charge for waking a sleeping process on an idle CPU
// shows here as well, so futex/pipe is the price of the ring itself.
void BM_WakeBaselinePipe(benchmark::State& state) {
  int to_child[2];
  if (pipe(to_child) != 0) std::abort();
  Shared* s = mapShared();
  pid_t child = fork();
  if (child == 0) {
    uint64_t n = 0, sent_at = 0;
    while (read(to_child[0], &sent_at, sizeof sent_at) == sizeof sent_at) {
      s->samples[n % Shared::kMaxSamples] = monotonicNs() - sent_at;
      s->acks.store(++n, std::memory_order_release);
    }
    _exit(0);
  }
  uint64_t n = 0;
  for (auto _ : state) {
    const uint64_t until = monotonicNs() + 200'000;
    while (monotonicNs() < until) platform::cpuRelax();
    const uint64_t now = monotonicNs();
    if (write(to_child[1], &now, sizeof now) != sizeof now) std::abort();
    waitAck(s, ++n);
    state.SetIterationTime(static_cast<double>(s->samples[(n - 1) % Shared::kMaxSamples]) / 1e9);
  }
  close(to_child[1]);
  stopChild(child);
  std::vector<uint64_t> v(s->samples, s->samples + std::min<uint64_t>(n, Shared::kMaxSamples));
  std::sort(v.begin(), v.end());
  if (!v.empty()) {
    const std::span<const uint64_t> sorted(v);
    state.counters["p50_us"] = static_cast<double>(percentileOfSorted(sorted, 0.50)) / 1e3;
    state.counters["p99_us"] = static_cast<double>(percentileOfSorted(sorted, 0.99)) / 1e3;
  }
  close(to_child[0]);
  munmap(s, sizeof(Shared));
}

// Frame sizes: 1 KiB (16x16 BGRA), 1080p and 4K BGRA.
struct Size {
  uint32_t w, h;
};
constexpr Size kSizes[] = {{16, 16}, {1920, 1080}, {3840, 2160}};

void BM_FrameHandoffRing(benchmark::State& state) {
  const Size size = kSizes[state.range(0)];
  runRing(state, size.w, size.h, FrameConsumer::WaitMode::kFutex, false);
}

void BM_FrameHandoffUnixSocket(benchmark::State& state) {
  const Size size = kSizes[state.range(0)];
  const size_t bytes = size_t{size.w} * size.h * 4;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  pid_t child = fork();
  if (child == 0) {
    close(sv[0]);
    std::vector<char> buf(bytes);
    for (;;) {
      size_t got = 0;
      while (got < bytes) {
        ssize_t r = read(sv[1], buf.data() + got, bytes - got);
        if (r <= 0) _exit(0);
        got += static_cast<size_t>(r);
      }
      char ack = 1;
      if (write(sv[1], &ack, 1) != 1) _exit(0);
    }
  }
  close(sv[1]);
  std::vector<char> frame(bytes, 7);  // the frame already exists, as in the ring case
  for (auto _ : state) {
    size_t sent = 0;
    while (sent < bytes) {
      ssize_t r = write(sv[0], frame.data() + sent, bytes - sent);
      if (r <= 0) std::abort();
      sent += static_cast<size_t>(r);
    }
    char ack = 0;
    if (read(sv[0], &ack, 1) != 1) std::abort();
  }
  close(sv[0]);
  stopChild(child);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

BENCHMARK(BM_HandoffLatencyFutex)->Iterations(10000)->Repetitions(3)->UseManualTime();
BENCHMARK(BM_WakeBaselinePipe)->Iterations(10000)->Repetitions(3)->UseManualTime();
BENCHMARK(BM_HandoffLatencyBusyPoll)->Iterations(10000)->Repetitions(3)->UseManualTime();
BENCHMARK(BM_FrameHandoffRing)->DenseRange(0, 2)->Repetitions(3)->MinTime(0.2)->UseRealTime();
BENCHMARK(BM_FrameHandoffUnixSocket)->DenseRange(0, 2)->Repetitions(3)->MinTime(0.2)->UseRealTime();

// Records the median real time of each benchmark (to print socket/ring ratios at the end) and
// hands every run on to the reporter --benchmark_format asks for: console (no colour codes:
// output goes to logs) or json (then the ratios go to stderr, so stdout stays one valid JSON
// document). The library's deprecated csv format is not offered.
class RatioReporter : public benchmark::BenchmarkReporter {
 public:
  explicit RatioReporter(const std::string& format) : console_(format == "console") {
    if (format == "json")
      inner_ = std::make_unique<benchmark::JSONReporter>();
    else
      inner_ = std::make_unique<benchmark::ConsoleReporter>(benchmark::ConsoleReporter::OO_Tabular);
    inner_->SetOutputStream(&std::cout);
    inner_->SetErrorStream(&std::cerr);
  }

  bool ReportContext(const Context& context) override { return inner_->ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs)
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median")
        medians_[run.run_name.function_name + "/" + run.run_name.args] = run.GetAdjustedRealTime();
    inner_->ReportRuns(runs);
  }
  void Finalize() override { inner_->Finalize(); }

  void printRatios() const {
    const char* names[] = {"1 KiB", "1080p BGRA", "4K BGRA"};
    for (int i = 0; i < 3; ++i) {
      auto ring = medians_.find("BM_FrameHandoffRing/" + std::to_string(i));
      auto sock = medians_.find("BM_FrameHandoffUnixSocket/" + std::to_string(i));
      if (ring == medians_.end() || sock == medians_.end()) continue;
      std::fprintf(
          console_ ? stdout : stderr,
          "frame handoff %-10s: ring %10.2f us, unix socket %10.2f us, ring is %.0fx cheaper\n",
          names[i], ring->second / 1e3, sock->second / 1e3, sock->second / ring->second);
    }
  }

 private:
  bool console_;
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  std::map<std::string, double> medians_;
};

// The value of --benchmark_format (console unless given).
std::string formatArgument(int argc, char** argv) {
  const std::string flag = "--benchmark_format=";
  std::string format = "console";
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]).rfind(flag, 0) == 0) format = std::string(argv[i]).substr(flag.size());
  return format;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string format = formatArgument(argc, argv);
  if (format != "console" && format != "json") {
    std::fprintf(stderr, "funkhaus_ring_bench: --benchmark_format=%s: console or json\n",
                 format.c_str());
    return 64;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter(format);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.printRatios();
  benchmark::Shutdown();
  return 0;
}
