// Named-pipe helpers of the Windows implementation (handle passing, funkhausd's launcher): names
// nobody else has, UTF-8 to UTF-16, and one read or write that works on synchronous and
// overlapped handles alike. Any thread. Internal; includes <windows.h>.
#pragma once

#include <windows.h>

#include <cstddef>
#include <span>
#include <string>

#include "funkhaus/common/result.h"
#include "funkhaus/platform/handle.h"

namespace funkhaus::platform::windows {

// \\.\pipe\funkhaus-<what>-<our pid>-<128 random bits>. Error: no random bits.
Result<std::string> uniquePipeName(const char* what);

// UTF-8 to the UTF-16 of the wide Win32 calls (invalid sequences become U+FFFD).
std::wstring widen(const std::string& text);

// The peer hung up: it closed its end (BROKEN_PIPE), or the server end was disconnected from
// its client (PIPE_NOT_CONNECTED). Either reads as a hang-up, as a closed socket does on Linux.
inline bool pipeHungUp(DWORD error) {
  return error == ERROR_BROKEN_PIPE || error == ERROR_PIPE_NOT_CONNECTED;
}

// The server end of a message channel's pipe `name`: message mode, one instance and the first of
// its name (nobody can have made it before us or add another), local clients only, buffering
// either way as much as a SOCK_SEQPACKET socket takes on Linux by default (208 KiB, rounded up
// to 256 KiB). `overlapped` for an event loop's completion port; `security` nullptr: the
// default DACL. Invalid on failure (GetLastError() says why).
UniqueHandle createChannelPipe(const std::string& name, bool overlapped,
                               SECURITY_ATTRIBUTES* security);

// One ReadFile or WriteFile of `bytes` on `pipe`, waited for if it pends (an overlapped handle).
// The completion never reaches an I/O completion port the handle is bound to (an event loop's):
// its event carries the low bit that says so. False: GetLastError() says why (ERROR_MORE_DATA
// for a message longer than a read's buffer, with `done` bytes read).
bool readPipe(HANDLE pipe, std::span<std::byte> bytes, DWORD& done);
bool writePipe(HANDLE pipe, std::span<const std::byte> bytes, DWORD& done);

}  // namespace funkhaus::platform::windows
