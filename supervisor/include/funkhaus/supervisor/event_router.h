// EventRouter: where an event a worker sends goes, by the worker table — by edge (a keyframe
// request goes to whichever worker consumes the frame ring), never by name — and how often.
// Injected clock; funkhausd's event loop thread.
#pragma once

#include <functional>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {

class EventRouter {
 public:
  struct Sinks {
    // Sends `command` (with `arg`) to `target`; false when it cannot take it now.
    std::function<bool(const WorkerSpec& target, abi::Command command, uint64_t arg)> command;
    std::function<void(const WorkerSpec& from, const abi::EventBody& event)> log;
    std::function<void(const abi::EventBody& event)> display_mode;
  };

  explicit EventRouter(const Clock& clock) : clock_(clock) {}

  // Routes `event` from `from` in a session of `workers` (names, start order), by every route
  // its row lists for it. An event its row does not list is dropped (false); so is one that
  // comes again sooner than its route allows.
  bool route(const WorkerSpec& from, const abi::EventBody& event,
             std::span<const std::string> workers, const Config& config, const Sinks& sinks);

  // The sticky commands routed to `target` so far (latest arg per command), for a successor.
  std::vector<std::pair<abi::Command, uint64_t>> sticky(const WorkerSpec& target) const;
  // A new session: its stream starts over.
  void forgetSticky() { sticky_.clear(); }

 private:
  bool deliver(const WorkerSpec& from, const EventRoute& route, const abi::EventBody& event,
               std::span<const std::string> workers, const Config& config, const Sinks& sinks);

  std::map<std::pair<const WorkerSpec*, abi::Command>, uint64_t> sticky_;
  const Clock& clock_;
  std::map<std::pair<const WorkerSpec*, const EventRoute*>, TimePoint> last_forward_;
};

}  // namespace funkhaus::supervisor
