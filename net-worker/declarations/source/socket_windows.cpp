// The socket calls of funkhaus-net and funkhausd on Windows (socket.h): winsock. What Windows has
// no counterpart for says so (SO_RCVLOWAT, POLLRDHUP, the TCP byte counters); socket.h says what
// the callers do without it.
#include "funkhaus/net/socket.h"

#include <mswsock.h>

#include <cstring>

#include "windows_error.h"

namespace funkhaus::net {

NativeSocket socketOf(const UniqueFd& handle) {
  return static_cast<NativeSocket>(reinterpret_cast<uintptr_t>(handle.get()));
}

UniqueFd socketHandle(NativeSocket socket) {
  // A SOCKET is a kernel handle; UniqueHandle closes it with CloseHandle, which frees a socket
  // no layered provider wraps (none here: Wine has none, Windows' own TCP/IP has none).
  return UniqueFd(asHandle(socket));
}

platform::NativeHandle asHandle(NativeSocket socket) {
  return reinterpret_cast<HANDLE>(static_cast<uintptr_t>(socket));
}

namespace {

// Sockets are inheritable by default on Windows; funkhaus's are handed over explicitly.
void notInherited(NativeSocket s) {
  SetHandleInformation(reinterpret_cast<HANDLE>(static_cast<uintptr_t>(s)), HANDLE_FLAG_INHERIT, 0);
}

}  // namespace

Result<UniqueFd> openBound(const sockaddr_storage& address, socklen_t size, bool tcp) {
  const NativeSocket s =
      WSASocketW(address.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, tcp ? IPPROTO_TCP : IPPROTO_UDP,
                 nullptr, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return makeError("socket: {}", lastSocketErrorText());
  UniqueFd fd = socketHandle(s);
  // No SO_REUSEADDR: on Windows it lets another socket take the port away; a listening port in
  // TIME_WAIT is bindable anyway.
  if (bind(s, reinterpret_cast<const sockaddr*>(&address), size) != 0)
    return makeError("{}", lastSocketErrorText());
  if (tcp && ::listen(s, 64) != 0) return makeError("listen: {}", lastSocketErrorText());
  return fd;
}

bool isConnectedTcp(NativeSocket s) {
  int type = 0;
  int len = sizeof type;
  if (getsockopt(s, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &len) != 0 ||
      type != SOCK_STREAM)
    return false;
  sockaddr_storage peer{};
  len = sizeof peer;
  return getpeername(s, reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
         (peer.ss_family == AF_INET || peer.ss_family == AF_INET6);
}

SocketError lastSocketError() {
  switch (WSAGetLastError()) {
    case WSAEINTR:
      return SocketError::kInterrupted;
    case WSAEWOULDBLOCK:
      return SocketError::kWouldBlock;
    case WSAECONNABORTED:
    case WSAECONNRESET:
      return SocketError::kAborted;
    default:
      return SocketError::kOther;
  }
}

std::string lastSocketErrorText() {
  return platform::windows::errorText(static_cast<DWORD>(WSAGetLastError()));
}

std::ptrdiff_t receiveSome(NativeSocket s, void* data, size_t size, bool peek) {
  return recv(s, static_cast<char*>(data), static_cast<int>(size), peek ? MSG_PEEK : 0);
}

std::ptrdiff_t sendSome(NativeSocket s, const void* data, size_t size) {
  return send(s, static_cast<const char*>(data), static_cast<int>(size), 0);
}

std::ptrdiff_t receiveDatagram(NativeSocket s, void* data, size_t capacity,
                               sockaddr_storage& from) {
  int len = sizeof from;
  const int n = recvfrom(s, static_cast<char*>(data), static_cast<int>(capacity), 0,
                         reinterpret_cast<sockaddr*>(&from), &len);
  if (n == SOCKET_ERROR && WSAGetLastError() == WSAEMSGSIZE)
    return static_cast<std::ptrdiff_t>(capacity) + 1;  // truncated: longer than the buffer
  return n;
}

bool sendDatagram(NativeSocket s, const void* data, size_t size, const sockaddr_storage& to,
                  socklen_t to_size) {
  return sendto(s, static_cast<const char*>(data), static_cast<int>(size), 0,
                reinterpret_cast<const sockaddr*>(&to), to_size) != SOCKET_ERROR;
}

size_t sendDatagrams(NativeSocket s, const sockaddr_storage& to, socklen_t to_size,
                     std::span<const DatagramPieces> datagrams) {
  size_t sent = 0;
  for (const DatagramPieces& d : datagrams) {
    std::array<WSABUF, 3> buffers;
    for (size_t k = 0; k < 3; ++k)
      buffers[k] = {static_cast<ULONG>(d.pieces[k].size()),
                    reinterpret_cast<CHAR*>(const_cast<uint8_t*>(d.pieces[k].data()))};
    DWORD bytes = 0;
    if (WSASendTo(s, buffers.data(), 3, &bytes, 0, reinterpret_cast<const sockaddr*>(&to), to_size,
                  nullptr, nullptr) != 0)
      break;
    ++sent;
  }
  return sent;
}

NativeSocket acceptConnection(NativeSocket listener, sockaddr_storage& peer) {
  int len = sizeof peer;
  const NativeSocket s = accept(listener, reinterpret_cast<sockaddr*>(&peer), &len);
  if (s == INVALID_SOCKET) return kNoSocket;
  notInherited(s);
  if (!setNonBlocking(s)) {
    closesocket(s);
    return kNoSocket;
  }
  return s;
}

Result<void> setNonBlocking(NativeSocket s) {
  u_long on = 1;
  if (ioctlsocket(s, FIONBIO, &on) != 0) return makeError("FIONBIO: {}", lastSocketErrorText());
  if (isDatagramSocket(s)) {
    // An ICMP port unreachable for an earlier datagram must not fail the next recvfrom.
    BOOL report = FALSE;
    DWORD bytes = 0;
    WSAIoctl(s, SIO_UDP_CONNRESET, &report, sizeof report, nullptr, 0, &bytes, nullptr, nullptr);
  }
  return {};
}

void setNoDelay(NativeSocket s) {
  const BOOL on = TRUE;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&on), sizeof on);
}

void setLinger(NativeSocket s, bool abortive) {
  const linger l{static_cast<u_short>(abortive ? 1 : 0), 0};
  setsockopt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&l), sizeof l);
}

void shutdownBoth(NativeSocket s) { shutdown(s, SD_BOTH); }

bool setReceiveLowWater(NativeSocket, int) { return false; }

bool peerShutDown(NativeSocket) { return false; }

std::optional<uint64_t> unsentBytes(NativeSocket) { return std::nullopt; }

Result<uint64_t> tcpBytesWritten(NativeSocket) {
  return makeError("this system has no TCP byte counters here");
}

}  // namespace funkhaus::net
