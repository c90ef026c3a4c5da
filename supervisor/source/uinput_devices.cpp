// openUinput: the fds funkhausd hands to funkhaus-input.
#include "funkhaus/supervisor/uinput_devices.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

namespace funkhaus::supervisor {

Result<std::vector<UniqueFd>> openUinput(uint32_t count, const std::string& path) {
  std::vector<UniqueFd> fds;
  fds.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) {
      const int error = errno;
      const char* hint = error == ENOENT   ? " (this kernel has no uinput: modprobe uinput)"
                         : error == EACCES ? " (funkhausd runs as a user outside the group the "
                                             "package's udev rule gives it to)"
                                           : "";
      return makeError("opening {}: {}{}", path, std::strerror(error), hint);
    }
    fds.push_back(std::move(fd));
  }
  return fds;
}

}  // namespace funkhaus::supervisor
