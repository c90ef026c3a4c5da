// A free GameStream base port on loopback for one test's funkhausd: the base (HTTP) and every
// port GameStream derives from it are free. Test processes only.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

#include "funkhaus/common/unique_fd.h"

namespace funkhaus::test {

// Whether `port` on loopback is free for a socket of `type` (SOCK_STREAM or SOCK_DGRAM).
inline bool bindable(uint16_t port, int type = SOCK_STREAM) {
  UniqueFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

// A base port (not GameStream's default) whose other ports are free too: HTTP, HTTPS
// (base - 5), RTSP (+21), video, control, audio (+9..+11). 0 if none was found.
inline uint16_t freeGamestreamBasePort() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
      continue;
    const uint16_t port = ntohs(a.sin_port);
    fd.reset();
    if (port <= 2000 || port > 65000 || port == 47989) continue;
    bool free = true;
    for (int offset : {0, -5, 21, 9, 10, 11})
      free = free && bindable(static_cast<uint16_t>(port + offset)) &&
             bindable(static_cast<uint16_t>(port + offset), SOCK_DGRAM);
    if (free) return port;
  }
  return 0;
}

}  // namespace funkhaus::test
