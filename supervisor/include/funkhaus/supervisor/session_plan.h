// SessionPlan: what one session's workers are given — the rings funkhausd creates for the
// session (fresh memfds, so no frame of a previous user reaches the next one), each worker's
// arguments, and which fds it is handed after hello. Used by funkhausd's event loop thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/supervisor/config.h"

namespace funkhaus::supervisor {

// One fd a worker receives: its role, tag (viewer slot) and the fd, borrowed from its owner.
struct HandedFd {
  abi::FdRole role;
  uint32_t tag = 0;
  int fd = -1;
};

class SessionPlan {
 public:
  // Creates the frame ring (capture -> encode), sized for the larger of the capture mode and
  // [rings] max_width x max_height in I420, and the packet ring (encode -> net); with the
  // vdisplay source also the driver ring (vdisplay -> capture), BGRA up to the monitor's
  // framebuffer.
  static Result<SessionPlan> create(const Config& config);

  const SharedMemory& frameRing() const { return frame_ring_; }
  const SharedMemory& packetRing() const { return packet_ring_; }
  const std::optional<SharedMemory>& driverRing() const { return driver_ring_; }

  // The ring fds of a worker (capture, encode, net); the status page and net's sockets are
  // added by the supervisor.
  std::vector<HandedFd> ringFds(const std::string& worker) const;

 private:
  SessionPlan(SharedMemory frames, SharedMemory packets, std::optional<SharedMemory> driver)
      : frame_ring_(std::move(frames)),
        packet_ring_(std::move(packets)),
        driver_ring_(std::move(driver)) {}
  SharedMemory frame_ring_;
  SharedMemory packet_ring_;
  std::optional<SharedMemory> driver_ring_;
};

// The command-line arguments funkhausd gives a worker, from the config.
std::vector<std::string> workerArgs(const std::string& worker, const Config& config);

}  // namespace funkhaus::supervisor
