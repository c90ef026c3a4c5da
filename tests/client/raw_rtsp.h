// A bare RTSP client for tests that need a viewer no real player would be (one that stops
// reading): DESCRIBE, SETUP over TCP interleaved, PLAY. Test processes only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "funkhaus/common/unique_fd.h"

namespace funkhaus::test {

namespace detail {

// Sends a request and reads its response (headers and Content-Length body). "" on error.
inline std::string rtspExchange(int fd, const std::string& request) {
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return "";
  std::string in;
  char buf[4096];
  for (;;) {
    const auto end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t length = 0;
      const auto cl = in.find("Content-Length:");
      if (cl != std::string::npos && cl < end) length = std::stoul(in.substr(cl + 15));
      if (in.size() >= end + 4 + length) return in.substr(0, end + 4 + length);
    }
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return "";
    in.append(buf, static_cast<size_t>(n));
  }
}

inline std::string header(const std::string& response, const std::string& name) {
  const auto at = response.find(name + ":");
  if (at == std::string::npos) return "";
  auto value =
      response.substr(at + name.size() + 1, response.find("\r\n", at) - at - name.size() - 1);
  value.erase(0, value.find_first_not_of(' '));
  return value;
}

}  // namespace detail

// Connects, plays `url` over TCP interleaved and returns the socket (invalid on failure). The
// caller decides whether to read from it.
inline UniqueFd rtspPlayInterleaved(const std::string& host, int port, const std::string& url) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  const std::string describe = detail::rtspExchange(
      fd.get(), "DESCRIBE " + url + " RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n");
  if (describe.find("RTSP/1.0 200") != 0) return UniqueFd();
  // The media's control attribute: absolute, or relative to the content base / URL.
  std::string control = url;
  const auto c = describe.rfind("a=control:");
  if (c != std::string::npos) {
    std::string value = describe.substr(c + 10, describe.find("\r\n", c) - c - 10);
    if (value.rfind("rtsp://", 0) == 0)
      control = value;
    else if (value != "*")
      control = url + (url.back() == '/' ? "" : "/") + value;
  }
  const std::string setup = detail::rtspExchange(
      fd.get(),
      "SETUP " + control +
          " RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n");
  if (setup.find("RTSP/1.0 200") != 0) return UniqueFd();
  std::string session = detail::header(setup, "Session");
  session = session.substr(0, session.find(';'));
  const std::string play = detail::rtspExchange(
      fd.get(), "PLAY " + url + " RTSP/1.0\r\nCSeq: 3\r\nSession: " + session + "\r\n\r\n");
  if (play.find("RTSP/1.0 200") != 0) return UniqueFd();
  return fd;
}

}  // namespace funkhaus::test
