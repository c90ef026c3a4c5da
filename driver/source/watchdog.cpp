// Host watchdog deadlines on an injected clock.
#include "funkhaus/vdisplay/watchdog.h"

namespace funkhaus::vdisplay {

void HostWatchdog::add(uint64_t host) { deadlines_[host] = clock_.now() + timeout_; }

void HostWatchdog::remove(uint64_t host) { deadlines_.erase(host); }

void HostWatchdog::feed(uint64_t host) {
  auto it = deadlines_.find(host);
  if (it != deadlines_.end()) it->second = clock_.now() + timeout_;
}

std::vector<uint64_t> HostWatchdog::expired() const {
  std::vector<uint64_t> out;
  const TimePoint now = clock_.now();
  for (const auto& [host, deadline] : deadlines_)
    if (now >= deadline) out.push_back(host);
  return out;
}

std::optional<TimePoint> HostWatchdog::nextDeadline() const {
  std::optional<TimePoint> next;
  for (const auto& [host, deadline] : deadlines_)
    if (!next || deadline < *next) next = deadline;
  return next;
}

}  // namespace funkhaus::vdisplay
