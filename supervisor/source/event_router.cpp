// EventRouter: events by the worker table's routes.
#include "funkhaus/supervisor/event_router.h"

namespace funkhaus::supervisor {

bool EventRouter::route(const WorkerSpec& from, const abi::EventBody& event,
                        std::span<const std::string> workers, const Config& config,
                        const Sinks& sinks) {
  // An event may have several routes (a frame rate goes to capture and to encode).
  bool delivered = false;
  for (const EventRoute& route : from.events)
    if (static_cast<uint32_t>(route.event) == event.event)
      delivered = deliver(from, route, event, workers, config, sinks) || delivered;
  return delivered;
}

bool EventRouter::deliver(const WorkerSpec& from, const EventRoute& route,
                          const abi::EventBody& event, std::span<const std::string> workers,
                          const Config& config, const Sinks& sinks) {
  switch (route.action) {
    case EventAction::kLog:
      sinks.log(from, event);
      return true;
    case EventAction::kDisplayMode:
      sinks.display_mode(event);
      return true;
    case EventAction::kCommandRingConsumer:
    case EventAction::kCommandRingProducer: {
      const TimePoint now = clock_.now();
      const auto key = std::pair{&from, &route};
      auto last = last_forward_.find(key);
      if (last != last_forward_.end() && now - last->second < route.min_interval) return false;
      const WorkerSpec* target = route.action == EventAction::kCommandRingConsumer
                                     ? consumerOf(route.ring, workers, &config)
                                     : producerOf(route.ring, workers, &config);
      if (target == nullptr || !acceptsCommand(*target, route.command)) return false;
      const uint64_t arg = route.sticky ? event.arg : 0;
      if (route.sticky) sticky_[{target, route.command}] = arg;  // also for a later start
      if (!sinks.command(*target, route.command, arg)) return false;
      last_forward_[key] = now;
      return true;
    }
  }
  return false;
}

std::vector<std::pair<abi::Command, uint64_t>> EventRouter::sticky(const WorkerSpec& target) const {
  std::vector<std::pair<abi::Command, uint64_t>> out;
  for (const auto& [key, arg] : sticky_)
    if (key.first == &target) out.emplace_back(key.second, arg);
  return out;
}

}  // namespace funkhaus::supervisor
