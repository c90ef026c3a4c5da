// Handles on Windows: HANDLEs, closed with CloseHandle, duplicated without inheritance.
#include "funkhaus/platform/handle.h"

#include <windows.h>

#include <cstdint>
#include <string>

#include "windows_error.h"

namespace funkhaus::platform {

namespace windows {

std::string errorText(DWORD code) {
  char* text = nullptr;
  const DWORD n = FormatMessageA(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, code, 0, reinterpret_cast<char*>(&text), 0, nullptr);
  std::string message = n > 0 && text != nullptr ? std::string(text, n) : "unknown error";
  if (text != nullptr) LocalFree(text);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
  return message + " (error " + std::to_string(code) + ")";
}

DWORD timeoutMs(int64_t timeout_ns) {
  if (timeout_ns < 0) return INFINITE;
  const int64_t ms = (timeout_ns + 999'999) / 1'000'000;
  return ms >= int64_t{INFINITE} ? INFINITE - 1 : static_cast<DWORD>(ms);
}

}  // namespace windows

void closeHandle(NativeHandle handle) { CloseHandle(handle); }

Result<UniqueHandle> duplicateHandle(NativeHandle handle) {
  // INVALID_HANDLE_VALUE is also the pseudo-handle of this process: never duplicate that.
  if (!UniqueHandle::isValid(handle))
    return makeError("duplicating handle {}: not a valid handle", static_cast<void*>(handle));
  HANDLE copy = nullptr;
  if (!DuplicateHandle(GetCurrentProcess(), handle, GetCurrentProcess(), &copy, 0, FALSE,
                       DUPLICATE_SAME_ACCESS))
    return makeError("duplicating handle {}: {}", static_cast<void*>(handle),
                     windows::lastErrorText());
  return Result<UniqueHandle>(UniqueHandle(copy));
}

}  // namespace funkhaus::platform
