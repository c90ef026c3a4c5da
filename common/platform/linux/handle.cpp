// closeHandle on Linux: close(2) of a file descriptor.
#include "funkhaus/platform/handle.h"

#include <unistd.h>

namespace funkhaus::platform {

void closeHandle(NativeHandle handle) { ::close(handle); }

}  // namespace funkhaus::platform
