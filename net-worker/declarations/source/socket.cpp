// The socket calls that read the same on both platforms (socket.h); the rest is in
// socket_linux.cpp and socket_windows.cpp.
#include "funkhaus/net/socket.h"

namespace funkhaus::net {
namespace {

bool optionIs(NativeSocket s, int option, int value) {
  int got = 0;
  socklen_t len = sizeof got;
  return getsockopt(s, SOL_SOCKET, option, reinterpret_cast<char*>(&got), &len) == 0 &&
         got == value;
}

}  // namespace

bool isStreamSocket(NativeSocket s) { return optionIs(s, SO_TYPE, SOCK_STREAM); }
bool isDatagramSocket(NativeSocket s) { return optionIs(s, SO_TYPE, SOCK_DGRAM); }
bool isListening(NativeSocket s) { return optionIs(s, SO_ACCEPTCONN, 1); }

sockaddr_storage localAddress(NativeSocket s) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) return {};
  return a;
}

}  // namespace funkhaus::net
