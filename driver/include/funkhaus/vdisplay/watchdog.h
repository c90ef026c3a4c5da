// HostWatchdog: which host connections have been silent longer than the timeout, on an injected
// Clock. Used on the driver's main thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "funkhaus/common/clock.h"

namespace funkhaus::vdisplay {

class HostWatchdog {
 public:
  HostWatchdog(const Clock& clock, Duration timeout) : clock_(clock), timeout_(timeout) {}

  // Starts watching `host`; its deadline is now + timeout.
  void add(uint64_t host);
  void remove(uint64_t host);
  // The host showed a sign of life: its deadline moves to now + timeout.
  void feed(uint64_t host);
  // Hosts whose deadline has passed, in ascending id order. They stay watched until removed.
  std::vector<uint64_t> expired() const;
  // The earliest deadline of any watched host, if there is one.
  std::optional<TimePoint> nextDeadline() const;
  Duration timeout() const { return timeout_; }

 private:
  const Clock& clock_;
  Duration timeout_;
  std::map<uint64_t, TimePoint> deadlines_;
};

}  // namespace funkhaus::vdisplay
