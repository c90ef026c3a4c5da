// Named-pipe helpers of the Windows implementation (pipe_io.h).
#include "pipe_io.h"

// After windows.h, which it needs.
#include <bcrypt.h>

#include <cstdint>

#include <fmt/format.h>

#include "funkhaus/platform/handle.h"

namespace funkhaus::platform::windows {
namespace {

// One event per thread for the waits of readPipe and writePipe (manual reset, as
// GetOverlappedResult wants); owned by the thread's UniqueHandle.
HANDLE threadEvent() {
  thread_local UniqueHandle event(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  return event.get();
}

template <typename Io>
bool transfer(HANDLE pipe, DWORD& done, Io io) {
  done = 0;
  OVERLAPPED overlapped{};
  // The low bit: no completion packet to a port the handle may be bound to
  // (GetQueuedCompletionStatus's documented exception).
  overlapped.hEvent = reinterpret_cast<HANDLE>(reinterpret_cast<uintptr_t>(threadEvent()) | 1);
  if (!io(&overlapped)) {
    const DWORD error = GetLastError();
    // ERROR_MORE_DATA at once still has its byte count in the OVERLAPPED.
    if (error != ERROR_IO_PENDING && error != ERROR_MORE_DATA) return false;
  }
  // Done already (a synchronous handle, or at once) or pending: either way this has the count.
  return GetOverlappedResult(pipe, &overlapped, &done, TRUE) != 0;
}

}  // namespace

Result<std::string> uniquePipeName(const char* what) {
  uint64_t id[2];
  if (BCryptGenRandom(nullptr, reinterpret_cast<UCHAR*>(id), sizeof id,
                      BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
    return makeError("no random name for a pipe");
  return fmt::format(R"(\\.\pipe\funkhaus-{}-{}-{:016x}{:016x})", what, GetCurrentProcessId(),
                     id[0], id[1]);
}

std::wstring widen(const std::string& text) {
  if (text.empty()) return {};
  const int n =
      MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
  std::wstring wide(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), wide.data(), n);
  return wide;
}

UniqueHandle createChannelPipe(const std::string& name, bool overlapped,
                               SECURITY_ATTRIBUTES* security) {
  constexpr DWORD kBuffer = 256 * 1024;
  return UniqueHandle(CreateNamedPipeW(
      widen(name).c_str(),
      PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE | (overlapped ? FILE_FLAG_OVERLAPPED : 0),
      PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1,
      kBuffer, kBuffer, 0, security));
}

bool readPipe(HANDLE pipe, std::span<std::byte> bytes, DWORD& done) {
  return transfer(pipe, done, [&](OVERLAPPED* o) {
    return ReadFile(pipe, bytes.data(), static_cast<DWORD>(bytes.size()), nullptr, o) != 0;
  });
}

bool writePipe(HANDLE pipe, std::span<const std::byte> bytes, DWORD& done) {
  return transfer(pipe, done, [&](OVERLAPPED* o) {
    return WriteFile(pipe, bytes.data(), static_cast<DWORD>(bytes.size()), nullptr, o) != 0;
  });
}

}  // namespace funkhaus::platform::windows
