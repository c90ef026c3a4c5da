// The sockets of funkhaus-net and of funkhausd's endpoints on both platforms: the system's socket
// headers (POSIX on Linux, winsock on Windows), the handle type, and the calls whose spelling or
// existence differs between them (socket_linux.cpp, socket_windows.cpp). Any thread.
#pragma once

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::net {

#ifdef _WIN32
using NativeSocket = SOCKET;
inline constexpr NativeSocket kNoSocket = INVALID_SOCKET;
#else
using NativeSocket = int;
inline constexpr NativeSocket kNoSocket = -1;
#endif

// A socket held as a handle (handed over, kept) as the socket it is, and a new socket as such a
// handle (closed with it).
NativeSocket socketOf(const UniqueFd& handle);
UniqueFd socketHandle(NativeSocket socket);
// The socket as the handle a worker channel passes (the same object, not a duplicate).
platform::NativeHandle asHandle(NativeSocket socket);

// A socket of `family` (AF_INET, AF_INET6), TCP listening (backlog 64, SO_REUSEADDR) or UDP,
// bound to `address`, not inherited. Error: the system's reason.
Result<UniqueFd> openBound(const sockaddr_storage& address, socklen_t size, bool tcp);
// Whether `s` is a connected TCP/IP socket (what funkhausd keeps for net).
bool isConnectedTcp(NativeSocket s);

// Why the last socket call of this thread failed.
enum class SocketError { kInterrupted, kWouldBlock, kAborted, kOther };
SocketError lastSocketError();
std::string lastSocketErrorText();

// Without blocking: recv (`peek`: MSG_PEEK). Bytes, 0 when the peer closed, -1 on error.
std::ptrdiff_t receiveSome(NativeSocket s, void* data, size_t size, bool peek = false);
// Without blocking and without SIGPIPE: send. Bytes, -1 on error.
std::ptrdiff_t sendSome(NativeSocket s, const void* data, size_t size);
// One datagram without blocking: its whole size (more than `capacity`: truncated), -1 on error
// or when none waits.
std::ptrdiff_t receiveDatagram(NativeSocket s, void* data, size_t capacity, sockaddr_storage& from);
// One datagram to `to` without blocking; false if the kernel did not take it.
bool sendDatagram(NativeSocket s, const void* data, size_t size, const sockaddr_storage& to,
                  socklen_t to_size);

// A datagram in up to three pieces (RTP: header, payload prefix, payload).
struct DatagramPieces {
  std::array<std::span<const uint8_t>, 3> pieces;
};
// Sends `datagrams` to `to` without blocking, in order (sendmmsg on Linux): how many the
// kernel took; it stops at the first it does not.
size_t sendDatagrams(NativeSocket s, const sockaddr_storage& to, socklen_t to_size,
                     std::span<const DatagramPieces> datagrams);

// A connection from a listening socket, non-blocking and not inherited, or kNoSocket
// (lastSocketError says why: kWouldBlock when none waits).
NativeSocket acceptConnection(NativeSocket listener, sockaddr_storage& peer);
Result<void> setNonBlocking(NativeSocket s);
void setNoDelay(NativeSocket s);
// SO_LINGER {1, 0}: closing sends RST and frees the socket at once (no TIME_WAIT); {0, 0}: the
// default FIN.
void setLinger(NativeSocket s, bool abortive);
// shutdown(SHUT_RDWR): the connection ends for the peer, whoever else holds the socket.
void shutdownBoth(NativeSocket s);
// SO_RCVLOWAT: the socket reads as readable only with `bytes` waiting. False where the system
// has no such setting (Windows): every byte wakes the loop then.
bool setReceiveLowWater(NativeSocket s, int bytes);
// Whether the peer shut its side down (POLLRDHUP) — false where the system cannot tell without
// reading (Windows): the header timeout ends such a connection there.
bool peerShutDown(NativeSocket s);
// Bytes written to the socket the kernel has not sent yet (SIOCOUTQNSD), or nullopt where the
// system cannot tell (Windows).
std::optional<uint64_t> unsentBytes(NativeSocket s);
// Every byte ever written to a TCP socket (acked + queued: TCP_INFO and SIOCOUTQ). Error where
// the system has no such counters (Windows).
Result<uint64_t> tcpBytesWritten(NativeSocket s);
// SO_TYPE is SOCK_STREAM / SOCK_DGRAM; SO_ACCEPTCONN.
bool isStreamSocket(NativeSocket s);
bool isDatagramSocket(NativeSocket s);
bool isListening(NativeSocket s);
// The bound address of a socket (zeroed on error).
sockaddr_storage localAddress(NativeSocket s);

}  // namespace funkhaus::net
