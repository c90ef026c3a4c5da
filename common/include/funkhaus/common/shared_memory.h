// SharedMemory: the name common's callers know for platform::SharedMemory (a sealed memfd on
// Linux), created by the owner (funkhausd) and attached by workers from a handle they received.
#pragma once

#include "funkhaus/common/unique_fd.h"
#include "funkhaus/platform/shared_memory.h"

namespace funkhaus {

using platform::SharedMemory;

}  // namespace funkhaus
