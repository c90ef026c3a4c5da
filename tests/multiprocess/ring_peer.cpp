// ring_peer: a real producer or consumer process for the multi-process ring tests.
// Reads the ring memfd from fd 3, reports events as lines on stdout:
//   ready <pid>                       attached
//   peer-gone <pid> <monotonic_ns>    detected the other side's death (and recovered its slots)
//   stats frames=<n> torn=<n> ...     at exit
// Exit codes: 0 ok, 2 attach failed, 3 torn or mismatched frame (exits at once).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "funkhaus/abi/token.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"

namespace {

using namespace funkhaus;

std::atomic<bool> g_stop{false};
void onTerm(int) { g_stop.store(true); }

uint64_t patternWord(uint64_t frame, uint64_t i) {
  return (frame + 1) * 0x9E3779B97F4A7C15ull ^ (i * 0xD6E8FEB86659FD93ull);
}

// Payload: word 0 = frame number, word 1.. = pattern(frame, i). Any mix of two frames shows.
void fill(std::span<std::byte> payload, size_t bytes, uint64_t frame) {
  auto* w = reinterpret_cast<uint64_t*>(payload.data());
  w[0] = frame;
  for (size_t i = 1; i < bytes / 8; ++i) w[i] = patternWord(frame, i);
}

bool verify(std::span<const std::byte> payload) {
  if (payload.size() < 16) return false;
  const auto* w = reinterpret_cast<const uint64_t*>(payload.data());
  const uint64_t frame = w[0];
  for (size_t i = 1; i < payload.size() / 8; ++i)
    if (w[i] != patternWord(frame, i)) return false;
  return true;
}

struct Args {
  std::string role;
  size_t payload = 4096;
  uint64_t frames = 0;          // consumer: exit after this many frames (0: until SIGTERM)
  uint64_t until_consumed = 0;  // producer: stop once header.consumed reaches this
  uint64_t interval_us = 0;     // producer: pause between frames
  bool busy_poll = false;
};

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(stderr, "usage: ring_peer producer|consumer [options]\n");
    std::exit(64);
  }
  a.role = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> uint64_t {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ring_peer: %s needs a value\n", k.c_str());
        std::exit(64);
      }
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (k == "--payload")
      a.payload = next();
    else if (k == "--frames")
      a.frames = next();
    else if (k == "--until-consumed")
      a.until_consumed = next();
    else if (k == "--interval-us")
      a.interval_us = next();
    else if (k == "--busy-poll")
      a.busy_poll = true;
    else {
      std::fprintf(stderr, "ring_peer: unknown option %s\n", k.c_str());
      std::exit(64);
    }
  }
  return a;
}

int produce(const Args& a, SharedMemory shm) {
  auto producer = FrameProducer::attach(std::move(shm));
  if (!producer) {
    std::fprintf(stderr, "ring_peer producer: %s\n", producer.error().message.c_str());
    return 2;
  }
  const size_t bytes = std::min(a.payload, producer->layout().payload_capacity) & ~size_t{7};
  std::printf("ready %d\n", getpid());
  std::fflush(stdout);
  uint64_t frame = 0, published = 0, deaths = 0;
  auto& h = producer->header();
  while (!g_stop.load()) {
    if (a.until_consumed && abi::atomicLoad(h.consumed) >= a.until_consumed) break;
    auto slot = producer->beginFrame();
    if (producer->consumerDeaths() != deaths) {
      deaths = producer->consumerDeaths();
      std::printf("peer-gone %u %llu\n", abi::atomicLoad(h.consumer_pid),
                  static_cast<unsigned long long>(monotonicNs()));
      std::fflush(stdout);
    }
    if (slot) {
      fill(slot->payload, bytes, frame++);
      FrameMeta meta;
      meta.capture_time_ns = monotonicNs();
      meta.payload_size = bytes;
      meta.geometry = producer->mode();
      if (producer->publish(*slot, meta) != 0) ++published;
    }
    if (a.interval_us)
      usleep(static_cast<useconds_t>(a.interval_us));
    else if (!slot)
      sched_yield();
  }
  std::printf("stats published=%llu\n", static_cast<unsigned long long>(published));
  return 0;
}

int consume(const Args& a, SharedMemory shm) {
  auto consumer =
      FrameConsumer::attach(std::move(shm), a.busy_poll ? FrameConsumer::WaitMode::kBusyPoll
                                                        : FrameConsumer::WaitMode::kFutex);
  if (!consumer) {
    std::fprintf(stderr, "ring_peer consumer: %s\n", consumer.error().message.c_str());
    return 2;
  }
  std::printf("ready %d\n", getpid());
  std::fflush(stdout);
  uint64_t frames = 0, gone = 0, last_frame = 0;
  uint64_t last_token = 0;
  while (!g_stop.load() && (a.frames == 0 || frames < a.frames)) {
    FrameConsumer::Frame f;
    auto status = consumer->acquireLatest(50'000'000, &f);
    if (status == FrameConsumer::Status::kProducerGone) {
      ++gone;
      std::printf("peer-gone %u %llu\n", abi::atomicLoad(consumer->header().producer_pid),
                  static_cast<unsigned long long>(monotonicNs()));
      std::fflush(stdout);
      continue;
    }
    if (status != FrameConsumer::Status::kFrame) continue;
    const bool same_generation =
        last_token != 0 && abi::tokenGeneration(f.token) == abi::tokenGeneration(last_token);
    uint64_t frame_no = 0;
    std::memcpy(&frame_no, f.payload.data(), sizeof frame_no);
    if (!verify(f.payload) || (same_generation && frame_no <= last_frame)) {
      std::printf(
          "torn frame token=%llx frame=%llu last=%llu\n", static_cast<unsigned long long>(f.token),
          static_cast<unsigned long long>(frame_no), static_cast<unsigned long long>(last_frame));
      std::fflush(stdout);
      _exit(3);
    }
    last_frame = frame_no;
    last_token = f.token;
    ++frames;
    consumer->release(f);
  }
  std::printf("stats frames=%llu torn=0 producer_gone=%llu\n",
              static_cast<unsigned long long>(frames), static_cast<unsigned long long>(gone));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = onTerm;
  sigaction(SIGTERM, &sa, nullptr);
  auto shm = SharedMemory::attach(UniqueFd(3));
  if (!shm) {
    std::fprintf(stderr, "ring_peer: %s\n", shm.error().message.c_str());
    return 2;
  }
  if (a.role == "producer") return produce(a, std::move(*shm));
  if (a.role == "consumer") return consume(a, std::move(*shm));
  if (a.role == "resize") {
    // A peer trying to change the size of the sealed memfd under everybody's mappings.
    const int grow = ftruncate(shm->handle(), static_cast<off_t>(shm->size() * 2));
    const int grow_errno = errno;
    const int shrink = ftruncate(shm->handle(), 0);
    const int shrink_errno = errno;
    std::printf("grow=%d errno=%d shrink=%d errno=%d\n", grow, grow_errno, shrink, shrink_errno);
    return grow != 0 && shrink != 0 ? 0 : 1;
  }
  std::fprintf(stderr, "ring_peer: unknown role %s\n", a.role.c_str());
  return 64;
}
