// RingReader: drains the packet ring on its own thread and hands private copies of the access
// units to the server's loop, so the ring is emptied promptly whatever the viewers do. Owned by
// the worker's main thread; the reading thread touches nothing else.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "funkhaus/common/packet_ring.h"
#include "funkhaus/net/access_unit.h"

namespace funkhaus::net {

class RingReader {
 public:
  using Deliver = std::function<void(std::shared_ptr<AccessUnit>)>;

  // At most this many units handed over and not yet done() (by default): beyond, units are
  // dropped and the next one handed over carries kRecordFlagDiscontinuity.
  static constexpr uint32_t kMaxInFlight = 4;

  // Until the first fresh record, records captured more than `stale_ns` ago are dropped (a
  // restarted net finds what piled up while it was down). `name` says which ring in logs.
  RingReader(PacketConsumer consumer, uint64_t stale_ns, uint32_t max_in_flight = kMaxInFlight,
             const char* name = "packet");
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;
  ~RingReader();

  // Starts the thread; `deliver` runs on it for each unit.
  void start(Deliver deliver);
  void stop();
  // The receiver finished one delivered unit.
  void done() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }

  uint64_t framesIn() const { return frames_in_.load(std::memory_order_relaxed); }
  uint64_t overflowDropped() const { return overflow_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  void run();

  PacketConsumer consumer_;
  uint64_t stale_ns_;
  uint32_t max_in_flight_;
  const char* name_;
  Deliver deliver_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> in_flight_{0};
  std::atomic<uint64_t> frames_in_{0}, stale_{0}, overflow_{0}, errors_{0};
};

}  // namespace funkhaus::net
