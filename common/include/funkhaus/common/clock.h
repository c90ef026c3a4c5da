// Time: monotonicNs() for timestamps shared across processes, and the Clock seam that lets
// restart, backoff and heartbeat logic run on fake time in tests. Any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>

namespace funkhaus {

inline uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Sleeps until CLOCK_MONOTONIC reads `ns` (absolute: no drift); a signal ends it early.
inline void sleepUntilNs(uint64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;

  // The real monotonic clock.
  static std::unique_ptr<Clock> createSteady();
};

// A clock that moves only when told to. For tests of time-driven logic.
class FakeClock : public Clock {
 public:
  TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += d; }

 private:
  TimePoint now_{std::chrono::hours(1)};
};

inline std::unique_ptr<Clock> Clock::createSteady() {
  struct Steady : Clock {
    TimePoint now() const override { return std::chrono::steady_clock::now(); }
  };
  return std::make_unique<Steady>();
}

}  // namespace funkhaus
