// Handle passing on Windows: one message of a message-mode named pipe per datagram. The sender
// duplicates each handle into the peer process (DuplicateHandle; it needs PROCESS_DUP_HANDLE on
// the peer, which funkhausd, the broker, has on its workers) and sends the values that are
// valid there ahead of the bytes. A socket goes as winsock's WSADuplicateSocketW says (its
// WSAPROTOCOL_INFOW after the header; the receiver opens it with WSASocketW): a socket handle
// duplicated as a plain handle is no socket to Wine's winsock, nor to a layered provider's. The
// receiver owns what it got from then on.
#include "funkhaus/platform/handle_passing.h"

// winsock2.h before windows.h.
#include <winsock2.h>
// Then windows.h.
#include <windows.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipe_io.h"
#include "windows_error.h"

namespace funkhaus::platform {
namespace {

// Ahead of the bytes of every message: magic, handle count, which of them are sockets, the
// handle values in the receiver (0 for a socket: its WSAPROTOCOL_INFOW follows the header, one
// per socket in order, before the bytes).
struct PassedHeader {
  uint32_t magic;    // kPassedMagic
  uint16_t count;    // 0..kMaxPassedHandles
  uint16_t sockets;  // bit i: handle i is a socket
  uint64_t handles[kMaxPassedHandles];
};
static_assert(kMaxPassedHandles <= 16, "one bit per handle in PassedHeader::sockets");
constexpr uint32_t kPassedMagic = 0x50484846;  // "FHHP"
static_assert(sizeof(PassedHeader) == kPipeMessageHeader, "the header as the header says");

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

Result<bool> waitReadable(NativeHandle pipe, int timeout_ms) {
  const ULONGLONG start = GetTickCount64();
  for (DWORD pause = 0;; pause = pause == 0 ? 1 : std::min<DWORD>(pause * 2, 4)) {
    DWORD available = 0;
    if (!PeekNamedPipe(pipe, nullptr, 0, nullptr, &available, nullptr)) {
      if (windows::pipeHungUp(GetLastError())) return true;  // the hang-up reads as closed()
      return makeError("{}", windows::lastErrorText());
    }
    if (available > 0) return true;  // every message holds at least its PassedHeader
    if (timeout_ms >= 0 && GetTickCount64() - start >= static_cast<ULONGLONG>(timeout_ms))
      return false;
    Sleep(pause);
  }
}

Result<UniqueHandle> openMessageChannel(const std::string& name) {
  UniqueHandle client(CreateFileW(windows::widen(name).c_str(), GENERIC_READ | GENERIC_WRITE, 0,
                                  nullptr, OPEN_EXISTING,
                                  SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, nullptr));
  if (!client.valid()) return makeError("opening pipe {}: {}", name, windows::lastErrorText());
  DWORD mode = PIPE_READMODE_MESSAGE;
  if (!SetNamedPipeHandleState(client.get(), &mode, nullptr, nullptr))
    return makeError("pipe {}: message mode: {}", name, windows::lastErrorText());
  return client;
}

Result<std::pair<UniqueHandle, UniqueHandle>> messageChannelPair() {
  auto name = windows::uniquePipeName("channel");
  if (!name) return makeError("message channel: {}", name.error().message);
  UniqueHandle server = windows::createChannelPipe(*name, false, nullptr);
  if (!server.valid())
    return makeError("message channel: CreateNamedPipe: {}", windows::lastErrorText());
  auto client = openMessageChannel(*name);
  if (!client) return makeError("message channel: {}", client.error().message);
  if (!ConnectNamedPipe(server.get(), nullptr) && GetLastError() != ERROR_PIPE_CONNECTED)
    return makeError("message channel: connecting its pipe: {}", windows::lastErrorText());
  // The one client must be us: another process that opened the name first would get every
  // handle sent to the client end.
  ULONG pid = 0;
  if (!GetNamedPipeClientProcessId(server.get(), &pid))
    return makeError("message channel: its client unknown: {}", windows::lastErrorText());
  if (pid != GetCurrentProcessId())
    return makeError("message channel: process {} opened its pipe before us", pid);
  return std::pair(std::move(server), std::move(*client));
}

Result<void> sendWithHandles(NativeHandle pipe, std::span<const std::byte> bytes,
                             std::span<const NativeHandle> handles, Blocking blocking) {
  if (handles.size() > kMaxPassedHandles)
    return makeError("{} handles in one message, at most {}", handles.size(), kMaxPassedHandles);
  if (blocking == Blocking::kDontWait)  // a synchronous pipe handle has no non-blocking write
    return makeError(ErrorCode::kUnsupported, "a send that never waits needs overlapped I/O");
  PassedHeader header{};
  header.magic = kPassedMagic;
  std::vector<WSAPROTOCOL_INFOW> sockets;
  UniqueHandle peer;
  if (!handles.empty()) {
    auto pid = peerOf(pipe);
    if (!pid) return pid.error();
    peer.reset(OpenProcess(PROCESS_DUP_HANDLE, FALSE, *pid));
    if (peer.get() == nullptr)
      return makeError("cannot hand handles to process {}: {}", *pid, windows::lastErrorText());
    for (NativeHandle h : handles) {
      // A socket (the call fails for anything else): described for the peer to open it.
      WSAPROTOCOL_INFOW info{};
      if (WSADuplicateSocketW(static_cast<SOCKET>(reinterpret_cast<uintptr_t>(h)), *pid, &info) ==
          0) {
        header.sockets = static_cast<uint16_t>(header.sockets | (1u << header.count));
        header.handles[header.count++] = 0;
        sockets.push_back(info);
        continue;
      }
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
  const size_t described = sockets.size() * sizeof(WSAPROTOCOL_INFOW);
  std::vector<std::byte> message(sizeof header + described + bytes.size());
  std::memcpy(message.data(), &header, sizeof header);
  if (described > 0) std::memcpy(message.data() + sizeof header, sockets.data(), described);
  if (!bytes.empty())
    std::memcpy(message.data() + sizeof header + described, bytes.data(), bytes.size());
  DWORD written = 0;
  if (!windows::writePipe(pipe, message, written) || written != message.size()) {
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
      if (windows::pipeHungUp(GetLastError()))
        return std::optional<ReceivedDatagram>(ReceivedDatagram{});
      return makeError("{}", windows::lastErrorText());
    }
    if (available == 0) return std::optional<ReceivedDatagram>();
  }
  std::vector<std::byte> message(sizeof(PassedHeader) +
                                 kMaxPassedHandles * sizeof(WSAPROTOCOL_INFOW) + buffer.size());
  DWORD n = 0;
  bool more = false;
  if (!windows::readPipe(pipe, message, n)) {
    const DWORD err = GetLastError();
    if (windows::pipeHungUp(err)) return std::optional<ReceivedDatagram>(ReceivedDatagram{});
    if (err != ERROR_MORE_DATA) return makeError("{}", windows::errorText(err));
    more = true;  // the rest of this message is dropped, as a datagram socket does
    std::byte scratch[4096];
    DWORD m = 0;
    while (!windows::readPipe(pipe, scratch, m) && GetLastError() == ERROR_MORE_DATA) {
    }
  }
  auto received = decodePipeMessage(std::span(message.data(), n), more, buffer, true);
  if (!received) return received.error();
  return std::optional<ReceivedDatagram>(std::move(*received));
}

Result<ReceivedDatagram> decodePipeMessage(std::span<const std::byte> message, bool more,
                                           std::span<std::byte> buffer, bool take_handles) {
  PassedHeader header{};
  if (message.size() < sizeof header)
    return makeError("a message of {} bytes has no header", message.size());
  std::memcpy(&header, message.data(), sizeof header);
  if (header.magic != kPassedMagic || header.count > kMaxPassedHandles ||
      (header.sockets >> header.count) != 0)
    return makeError("a message without a valid header (magic 0x{:x}, {} handles, sockets 0x{:x})",
                     header.magic, header.count, header.sockets);
  if (header.count > 0 && !take_handles)
    return makeError("a message claims {} handles, and this sender cannot pass any", header.count);
  size_t sockets = 0;
  for (uint32_t i = 0; i < header.count; ++i) sockets += (header.sockets >> i) & 1u;
  const size_t start = sizeof header + sockets * sizeof(WSAPROTOCOL_INFOW);
  if (message.size() < start)
    return makeError("a message of {} bytes is too short for its {} sockets", message.size(),
                     sockets);
  if (sockets > 0) {
    // WSASocketW needs winsock started in this process (once; it stays up).
    static const bool started = [] {
      WSADATA data;
      return WSAStartup(MAKEWORD(2, 2), &data) == 0;
    }();
    if (!started) return makeError("a message hands over sockets, and winsock does not start");
  }
  ReceivedDatagram received;
  std::string failed;
  const std::byte* info = message.data() + sizeof header;
  for (uint32_t i = 0; i < header.count; ++i) {
    if (((header.sockets >> i) & 1u) == 0) {
      received.handles.emplace_back(
          reinterpret_cast<HANDLE>(static_cast<uintptr_t>(header.handles[i])));
      continue;
    }
    WSAPROTOCOL_INFOW described;
    std::memcpy(&described, info, sizeof described);
    info += sizeof described;
    const SOCKET s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO,
                                &described, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) {
      failed = windows::errorText(static_cast<DWORD>(WSAGetLastError()));
      continue;
    }
    received.handles.emplace_back(reinterpret_cast<HANDLE>(static_cast<uintptr_t>(s)));
  }
  // The handles that did come are closed with `received`.
  if (!failed.empty()) return makeError("a socket handed over cannot be opened: {}", failed);
  received.size = std::min(message.size() - start, buffer.size());
  std::memcpy(buffer.data(), message.data() + start, received.size);
  received.truncated = more || received.size < message.size() - start;
  return received;
}

}  // namespace funkhaus::platform
