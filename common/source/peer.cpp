// Ring role claims (liveness is platform::processGone).
#include "funkhaus/common/peer.h"

#include "funkhaus/abi/abi.h"

namespace funkhaus {

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
