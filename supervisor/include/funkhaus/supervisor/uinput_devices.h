// /dev/uinput for a worker that creates virtual input devices (Device::kUinput): funkhausd opens
// it, the worker (unprivileged) creates its devices on the fds. funkhausd's event loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::supervisor {

// Opens `path` `count` times (read-write, non-blocking, close-on-exec): one open file per
// device, since a uinput fd carries exactly one device. The error says why none could be
// opened (absent: no uinput in this kernel; permission: not root and not in the group the udev
// rule gives it to).
Result<std::vector<UniqueFd>> openUinput(uint32_t count, const std::string& path = "/dev/uinput");

}  // namespace funkhaus::supervisor
