// Ring demo: owner spawns producer and consumer; they move frames and report.
#include "ring_demo.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "funkhaus/abi/token.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/percentile.h"

extern char** environ;

namespace funkhaus::demo {
namespace {

std::atomic<bool> g_stop{false};

void onSignal(int) { g_stop.store(true); }

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool timeUp(uint64_t start, double seconds) {
  if (g_stop.load()) return true;
  return seconds > 0 && static_cast<double>(monotonicNs() - start) / 1e9 >= seconds;
}

// Frame stamp at the start of the payload: frame number and its bitwise complement.
struct Stamp {
  uint64_t frame;
  uint64_t check;
};

int runProducer(const DemoOptions& o) {
  auto shm = SharedMemory::attach(UniqueFd(o.ring_fd));
  if (!shm) {
    spdlog::error("producer: {}", shm.error().message);
    return 2;
  }
  auto producer = FrameProducer::attach(std::move(*shm));
  if (!producer) {
    spdlog::error("producer: {}", producer.error().message);
    return 2;
  }
  const abi::FrameGeometry mode = producer->mode();
  const uint64_t period = 1'000'000'000ull / o.fps;
  uint64_t next = monotonicNs();
  const uint64_t start = next;
  for (uint64_t frame = 0; !timeUp(start, o.seconds); ++frame) {
    auto slot = producer->beginFrame();
    if (slot) {
      // A moving gradient, one row per frame, so the frame really is written every time.
      const uint32_t row = static_cast<uint32_t>(frame % mode.height);
      auto* px = reinterpret_cast<uint32_t*>(slot->payload.data() + uint64_t{row} * mode.stride[0]);
      for (uint32_t x = 0; x < mode.width; ++x)
        px[x] = static_cast<uint32_t>(frame * 2654435761u + x);
      Stamp stamp{frame, ~frame};
      std::memcpy(slot->payload.data(), &stamp, sizeof stamp);
      FrameMeta meta;
      meta.capture_time_ns = monotonicNs();
      producer->publish(*slot, meta);
    }
    next += period;
    sleepUntilNs(next);
  }
  return 0;
}

int runConsumer(const DemoOptions& o) {
  auto shm = SharedMemory::attach(UniqueFd(o.ring_fd));
  if (!shm) {
    spdlog::error("consumer: {}", shm.error().message);
    return 2;
  }
  auto consumer =
      FrameConsumer::attach(std::move(*shm), o.busy_poll ? FrameConsumer::WaitMode::kBusyPoll
                                                         : FrameConsumer::WaitMode::kFutex);
  if (!consumer) {
    spdlog::error("consumer: {}", consumer.error().message);
    return 2;
  }
  std::vector<uint64_t> latencies;
  uint64_t frames = 0, bad = 0, total = 0, total_bad = 0;
  uint64_t window_start = monotonicNs();
  const uint64_t start = window_start;
  while (!timeUp(start, o.seconds)) {
    FrameConsumer::Frame f;
    auto status = consumer->acquireLatest(100'000'000, &f);
    const uint64_t now = monotonicNs();
    if (status == FrameConsumer::Status::kFrame) {
      latencies.push_back(now - f.capture_time_ns);
      Stamp stamp;
      std::memcpy(&stamp, f.payload.data(), sizeof stamp);
      if (stamp.check != ~stamp.frame) ++bad;
      ++frames;
      consumer->release(f);
    } else if (status == FrameConsumer::Status::kProducerGone) {
      spdlog::warn("consumer: producer is gone; waiting for a new one");
    }
    if (now - window_start >= 1'000'000'000) {
      const double secs = static_cast<double>(now - window_start) / 1e9;
      const auto& h = consumer->header();
      std::printf(
          "consumer: %6.1f fps  handoff latency p50 %7.1f us  p99 %7.1f us  bad frames %llu  "
          "ring: published %llu dropped %llu\n",
          static_cast<double>(frames) / secs,
          static_cast<double>(percentile(std::span<uint64_t>(latencies), 0.5)) / 1e3,
          static_cast<double>(percentile(std::span<uint64_t>(latencies), 0.99)) / 1e3,
          static_cast<unsigned long long>(bad),
          static_cast<unsigned long long>(abi::atomicLoad(h.published)),
          static_cast<unsigned long long>(abi::atomicLoad(h.dropped)));
      std::fflush(stdout);
      total += frames;
      total_bad += bad;
      frames = bad = 0;
      latencies.clear();
      window_start = now;
    }
  }
  total += frames;
  total_bad += bad;
  std::printf("consumer: %llu frames received, %llu bad\n", static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(total_bad));
  return total_bad == 0 ? 0 : 1;
}

pid_t spawnRole(const DemoOptions& o, const char* role, int fd) {
  // The child gets the memfd as fd 3; everything else we opened is close-on-exec.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fd, 3);
  std::vector<std::string> args = {"/proc/self/exe",
                                   "--role",
                                   role,
                                   "--ring-fd",
                                   "3",
                                   "--seconds",
                                   std::to_string(o.seconds),
                                   "--fps",
                                   std::to_string(o.fps)};
  if (o.busy_poll) args.push_back("--busy-poll");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    spdlog::error("spawning the {}: {}", role, std::strerror(rc));
    return -1;
  }
  return pid;
}

int runOwner(const DemoOptions& o) {
  auto mode = makeGeometry(abi::PixelFormat::kBgra, o.width, o.height);
  if (!mode) {
    spdlog::error("{}", mode.error().message);
    return 2;
  }
  FrameRingConfig config;
  config.name = "funkhaus-demo-frames";
  config.slot_count = o.slots;
  config.mode = *mode;
  auto ring = createFrameRing(config);
  if (!ring) {
    spdlog::error("{}", ring.error().message);
    return 2;
  }
  std::printf(
      "funkhaus ring demo: %ux%u BGRA at %u fps, %u slots of %.1f MiB in one sealed memfd; "
      "consumer %s. Ctrl-C stops.\n",
      o.width, o.height, o.fps, o.slots,
      static_cast<double>(validateFrameRing(ring->data(), ring->size())->payload_capacity) /
          (1 << 20),
      o.busy_poll ? "busy-polls" : "sleeps on a futex");
  std::fflush(stdout);
  pid_t consumer = spawnRole(o, "consumer", ring->handle());
  pid_t producer = spawnRole(o, "producer", ring->handle());
  if (consumer < 0 || producer < 0) return 2;
  int exit_code = 0;
  int alive = 2;
  while (alive > 0) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) {
        kill(producer, SIGTERM);
        kill(consumer, SIGTERM);
        continue;
      }
      break;
    }
    --alive;
    const char* who = pid == producer ? "producer" : "consumer";
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      spdlog::error("{} exited with {}", who, WEXITSTATUS(status));
      exit_code = 1;
    } else if (WIFSIGNALED(status)) {
      spdlog::error("{} killed by signal {}", who, WTERMSIG(status));
      exit_code = 1;
    }
  }
  const auto* h = reinterpret_cast<const abi::FrameRingHeader*>(ring->data());
  std::printf(
      "ring: published %llu, consumed %llu, dropped %llu, overwritten %llu, abandoned %llu\n",
      static_cast<unsigned long long>(abi::atomicLoad(h->published)),
      static_cast<unsigned long long>(abi::atomicLoad(h->consumed)),
      static_cast<unsigned long long>(abi::atomicLoad(h->dropped)),
      static_cast<unsigned long long>(abi::atomicLoad(h->overwritten)),
      static_cast<unsigned long long>(abi::atomicLoad(h->abandoned)));
  return exit_code;
}

}  // namespace

int runDemo(const DemoOptions& options) {
  installSignalHandlers();
  if (options.role == "producer") return runProducer(options);
  if (options.role == "consumer") return runConsumer(options);
  return runOwner(options);
}

}  // namespace funkhaus::demo
