// NativeHandle and UniqueHandle: what the operating system names a kernel object by (an fd on
// Linux, a HANDLE on Windows), and its one owner. Used in every platform-facing public API.
#pragma once

#include <utility>

#include "funkhaus/common/result.h"

namespace funkhaus::platform {

#if defined(_WIN32)
using NativeHandle = void*;  // HANDLE
inline const NativeHandle kInvalidHandle = reinterpret_cast<NativeHandle>(-1);
#else
using NativeHandle = int;  // a file descriptor
inline constexpr NativeHandle kInvalidHandle = -1;
#endif

// Closes `handle` (close(2) / CloseHandle). Errors are ignored: nothing useful can follow.
void closeHandle(NativeHandle handle);

class UniqueHandle;

// A second handle on the same object, not inherited by child processes (F_DUPFD_CLOEXEC /
// DuplicateHandle). Error: the system's reason, naming `handle`.
Result<UniqueHandle> duplicateHandle(NativeHandle handle);

// Owns one handle and closes it once. Moves, never copies.
class UniqueHandle {
 public:
  UniqueHandle() = default;
  explicit UniqueHandle(NativeHandle handle) : handle_(handle) {}
  UniqueHandle(UniqueHandle&& other) noexcept
      : handle_(std::exchange(other.handle_, kInvalidHandle)) {}
  UniqueHandle& operator=(UniqueHandle&& other) noexcept {
    if (this != &other) reset(std::exchange(other.handle_, kInvalidHandle));
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  ~UniqueHandle() { reset(); }

  NativeHandle get() const { return handle_; }
  bool valid() const { return isValid(handle_); }
  NativeHandle release() { return std::exchange(handle_, kInvalidHandle); }
  void reset(NativeHandle handle = kInvalidHandle) {
    if (valid()) closeHandle(handle_);
    handle_ = handle;
  }

  static bool isValid(NativeHandle handle) {
#if defined(_WIN32)
    return handle != kInvalidHandle && handle != nullptr;
#else
    return handle >= 0;
#endif
  }

 private:
  NativeHandle handle_ = kInvalidHandle;
};

}  // namespace funkhaus::platform
