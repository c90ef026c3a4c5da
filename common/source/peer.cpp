// Peer liveness (pidfd) and ring role claims.
#include "funkhaus/common/peer.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "funkhaus/abi/abi.h"

namespace funkhaus {

bool processGone(uint32_t pid) {
  if (pid == 0 || pid > static_cast<uint32_t>(INT_MAX)) return true;
  int fd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  if (fd < 0) return errno == ESRCH || errno == EINVAL;
  pollfd p{fd, POLLIN, 0};
  int n = poll(&p, 1, 0);
  close(fd);
  // A pidfd becomes readable when its process exits (zombies included).
  return n > 0 && (p.revents & POLLIN) != 0;
}

Result<void> claimRole(uint32_t& pid_field, uint32_t self, const char* what) {
  auto ref = abi::atomicRef(pid_field);
  uint32_t current = ref.load(std::memory_order_acquire);
  for (;;) {
    if (current != 0 && current != self && !processGone(current))
      return makeError("{} is already attached: live pid {}", what, current);
    if (ref.compare_exchange_weak(current, self, std::memory_order_acq_rel)) return {};
  }
}

void releaseRole(uint32_t& pid_field, uint32_t self) {
  abi::atomicRef(pid_field).compare_exchange_strong(self, 0, std::memory_order_acq_rel);
}

}  // namespace funkhaus
