// Handles on Linux: file descriptors, closed with close(2), duplicated close-on-exec.
#include "funkhaus/platform/handle.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace funkhaus::platform {

void closeHandle(NativeHandle handle) { ::close(handle); }

Result<UniqueHandle> duplicateHandle(NativeHandle handle) {
  UniqueHandle copy(fcntl(handle, F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) return makeError("duplicating fd {}: {}", handle, std::strerror(errno));
  return Result<UniqueHandle>(std::move(copy));
}

}  // namespace funkhaus::platform
