// SessionPlan: what one session's workers are given — the rings funkhausd creates for the
// session from the worker table's edges (fresh memfds, so no frame of a previous user reaches
// the next one, and an escalation never reuses rings a crash may have poisoned), and which ring
// fds each worker is handed after hello. Used by funkhausd's event loop thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {

// One fd (handle) a worker receives: its role, tag (ring id, endpoint, slot, device) and the
// fd, borrowed from its owner.
struct HandedFd {
  abi::FdRole role;
  uint32_t tag = 0;
  platform::NativeHandle fd = platform::kInvalidHandle;
};

enum class RingKind { kFrame, kPacket, kInput };

struct PlannedRing {
  abi::RingId id;
  RingKind kind;
  std::string_view name;  // in the status ("frames", "packets", "display")
  SharedMemory memory;
};

class SessionPlan {
 public:
  // Creates every ring an active edge of `workers` (names from the worker table) touches:
  // frames (I420, sized for the larger of the capture mode and [rings] max_width x max_height),
  // video packets, and the display ring (BGRA up to the monitor's framebuffer).
  static Result<SessionPlan> create(const Config& config, std::span<const std::string> workers);

  const std::vector<PlannedRing>& rings() const { return rings_; }
  const PlannedRing* ring(abi::RingId id) const;

  // The ring fds `worker` is handed after hello (its hand-over edges); the status page and
  // devices are added by the supervisor.
  std::vector<HandedFd> ringFds(const WorkerSpec& worker) const;
  // The ring `worker` is given through its control plane (an edge delivered by lease), or
  // nullptr.
  const PlannedRing* leasedRing(const WorkerSpec& worker) const;

 private:
  SessionPlan(const Config& config, std::vector<PlannedRing> rings)
      : config_(config), rings_(std::move(rings)) {}
  Config config_;
  std::vector<PlannedRing> rings_;
};

}  // namespace funkhaus::supervisor
