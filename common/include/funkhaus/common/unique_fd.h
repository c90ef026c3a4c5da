// UniqueFd: the name common's callers know for platform::UniqueHandle (an owned fd on Linux).
// Used wherever a component holds an fd (memfds, sockets, pidfds).
#pragma once

#include "funkhaus/platform/handle.h"

namespace funkhaus {

using UniqueFd = platform::UniqueHandle;

}  // namespace funkhaus
