// The text of a Win32 error code, for the messages of common/platform/windows (any thread).
// Internal to the Windows implementation; includes <windows.h>.
#pragma once

#include <windows.h>

#include <string>

namespace funkhaus::platform::windows {

// "The handle is invalid. (error 6)": FormatMessage's text without its line break, and the code.
std::string errorText(DWORD code);

// errorText(GetLastError()).
inline std::string lastErrorText() { return errorText(GetLastError()); }

// A timeout in nanoseconds (negative: no limit) as a Win32 wait in milliseconds, rounded up so
// that a wait never ends before its deadline.
DWORD timeoutMs(int64_t timeout_ns);

}  // namespace funkhaus::platform::windows
