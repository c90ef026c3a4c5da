// Peer processes of a ring: liveness (platform::processGone), and claiming a ring role
// (producer/consumer) by writing our pid into the role's pid field. Used by the keyed mutex and
// both ring kinds.
#pragma once

#include <cstdint>

#include "funkhaus/common/result.h"
#include "funkhaus/platform/process.h"

namespace funkhaus {

// True if no process with this pid is running any more (a zombie counts as gone; 0 and
// garbage values too). See platform/process.h.
using platform::processGone;

// Writes `self` into `pid_field` (a shared "(atomic)" field) unless another live process is
// there. `what` names the role in the error, e.g. "frame ring producer".
Result<void> claimRole(uint32_t& pid_field, uint32_t self, const char* what);

// Clears `pid_field` if it still holds `self`.
void releaseRole(uint32_t& pid_field, uint32_t self);

}  // namespace funkhaus
