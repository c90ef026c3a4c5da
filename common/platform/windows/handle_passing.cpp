// Handle passing on Windows: one message of a message-mode named pipe per datagram. The sender
// duplicates each handle into the peer process (DuplicateHandle; it needs PROCESS_DUP_HANDLE on
// the peer, which funkhausd, the broker, has on its workers) and sends the values that are
// valid there ahead of the bytes. The receiver owns those handles from then on.
#include "funkhaus/platform/handle_passing.h"

#include <windows.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "windows_error.h"

namespace funkhaus::platform {
namespace {

// Ahead of the bytes of every message: magic, handle count, the handle values in the receiver.
struct PassedHeader {
  uint32_t magic;  // kPassedMagic
  uint32_t count;  // 0..kMaxPassedHandles
  uint64_t handles[kMaxPassedHandles];
};
constexpr uint32_t kPassedMagic = 0x50484846;  // "FHHP"

// The process at the other end of `pipe` (client or server end, whichever we are not).
Result<DWORD> peerOf(HANDLE pipe) {
  DWORD flags = 0;
  if (!GetNamedPipeInfo(pipe, &flags, nullptr, nullptr, nullptr))
    return makeError("not a named pipe: {}", windows::lastErrorText());
  ULONG pid = 0;
  const BOOL ok = (flags & PIPE_SERVER_END) ? GetNamedPipeClientProcessId(pipe, &pid)
                                            : GetNamedPipeServerProcessId(pipe, &pid);
  if (!ok) return makeError("peer of the pipe unknown: {}", windows::lastErrorText());
  return static_cast<DWORD>(pid);
}

// Closes handles we duplicated into `process` but could not tell it about.
void closeInPeer(HANDLE process, const PassedHeader& header) {
  for (uint32_t i = 0; i < header.count; ++i)
    DuplicateHandle(process, reinterpret_cast<HANDLE>(static_cast<uintptr_t>(header.handles[i])),
                    nullptr, nullptr, 0, FALSE, DUPLICATE_CLOSE_SOURCE);
}

}  // namespace

Result<void> sendWithHandles(NativeHandle pipe, std::span<const std::byte> bytes,
                             std::span<const NativeHandle> handles, Blocking blocking) {
  if (handles.size() > kMaxPassedHandles)
    return makeError("{} handles in one message, at most {}", handles.size(), kMaxPassedHandles);
  if (blocking == Blocking::kDontWait)  // a synchronous pipe handle has no non-blocking write
    return makeError(ErrorCode::kUnsupported, "a send that never waits needs overlapped I/O");
  PassedHeader header{};
  header.magic = kPassedMagic;
  UniqueHandle peer;
  if (!handles.empty()) {
    auto pid = peerOf(pipe);
    if (!pid) return pid.error();
    peer.reset(OpenProcess(PROCESS_DUP_HANDLE, FALSE, *pid));
    if (peer.get() == nullptr)
      return makeError("cannot hand handles to process {}: {}", *pid, windows::lastErrorText());
    for (NativeHandle h : handles) {
      HANDLE remote = nullptr;
      if (!DuplicateHandle(GetCurrentProcess(), h, peer.get(), &remote, 0, FALSE,
                           DUPLICATE_SAME_ACCESS)) {
        const std::string why = windows::lastErrorText();
        closeInPeer(peer.get(), header);
        return makeError("duplicating handle {} into process {}: {}", static_cast<void*>(h), *pid,
                         why);
      }
      header.handles[header.count++] = reinterpret_cast<uintptr_t>(remote);
    }
  }
  std::vector<std::byte> message(sizeof header + bytes.size());
  std::memcpy(message.data(), &header, sizeof header);
  if (!bytes.empty()) std::memcpy(message.data() + sizeof header, bytes.data(), bytes.size());
  DWORD written = 0;
  if (!WriteFile(pipe, message.data(), static_cast<DWORD>(message.size()), &written, nullptr) ||
      written != message.size()) {
    const std::string why = windows::lastErrorText();
    if (peer.valid()) closeInPeer(peer.get(), header);
    return makeError("{}", why);
  }
  return {};
}

Result<std::optional<ReceivedDatagram>> receiveWithHandles(NativeHandle pipe,
                                                           std::span<std::byte> buffer,
                                                           Blocking blocking) {
  if (blocking == Blocking::kDontWait) {
    DWORD available = 0;
    if (!PeekNamedPipe(pipe, nullptr, 0, nullptr, &available, nullptr)) {
      if (GetLastError() == ERROR_BROKEN_PIPE)
        return std::optional<ReceivedDatagram>(ReceivedDatagram{});
      return makeError("{}", windows::lastErrorText());
    }
    if (available == 0) return std::optional<ReceivedDatagram>();
  }
  std::vector<std::byte> message(sizeof(PassedHeader) + buffer.size());
  DWORD n = 0;
  bool truncated = false;
  if (!ReadFile(pipe, message.data(), static_cast<DWORD>(message.size()), &n, nullptr)) {
    const DWORD err = GetLastError();
    if (err == ERROR_BROKEN_PIPE) return std::optional<ReceivedDatagram>(ReceivedDatagram{});
    if (err != ERROR_MORE_DATA) return makeError("{}", windows::errorText(err));
    truncated = true;  // the rest of this message is dropped, as a datagram socket does
    std::byte scratch[4096];
    DWORD m = 0;
    while (!ReadFile(pipe, scratch, sizeof scratch, &m, nullptr) &&
           GetLastError() == ERROR_MORE_DATA) {
    }
  }
  PassedHeader header{};
  if (n < sizeof header) return makeError("a message of {} bytes has no header", n);
  std::memcpy(&header, message.data(), sizeof header);
  if (header.magic != kPassedMagic || header.count > kMaxPassedHandles)
    return makeError("a message without a valid header (magic 0x{:x}, {} handles)", header.magic,
                     header.count);
  ReceivedDatagram received;
  for (uint32_t i = 0; i < header.count; ++i)
    received.handles.emplace_back(
        reinterpret_cast<HANDLE>(static_cast<uintptr_t>(header.handles[i])));
  received.size = n - sizeof header;
  std::memcpy(buffer.data(), message.data() + sizeof header, received.size);
  received.truncated = truncated;
  return std::optional<ReceivedDatagram>(std::move(received));
}

}  // namespace funkhaus::platform
