// RtspViewer: response parsing and the DESCRIBE / SETUP / PLAY exchange.
#include "funkhaus/bench/rtsp_viewer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include "funkhaus/common/clock.h"
#include "funkhaus/net/rtsp_request.h"

namespace funkhaus::bench {

namespace {

using net::equalsIgnoreCase;
using net::trim;

bool printable(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return false;
  return true;
}

// The media's control URL: the SDP's last a=control (the media level), absolute or relative to
// the Content-Base (else the request URL).
std::string controlUrl(const RtspResponse& describe, const std::string& url) {
  std::string base = url;
  if (const std::string* cb = describe.header("Content-Base")) base = *cb;
  if (base.empty() || base.back() != '/') base += '/';
  const auto at = describe.body.rfind("a=control:");
  if (at == std::string::npos) return url;
  const auto end = describe.body.find_first_of("\r\n", at);
  const std::string value =
      describe.body.substr(at + 10, end == std::string::npos ? std::string::npos : end - at - 10);
  if (value.rfind("rtsp://", 0) == 0) return value;
  if (value == "*" || value.empty()) return url;
  return base + value;
}

}  // namespace

const std::string* RtspResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (equalsIgnoreCase(key, name)) return &value;
  return nullptr;
}

Result<std::optional<RtspResponse>> parseRtspResponse(std::string_view in) {
  const auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (in.size() > kMaxRtspHeader)
      return makeError("RTSP response header longer than {} bytes", kMaxRtspHeader);
    return std::optional<RtspResponse>();
  }
  if (head_end > kMaxRtspHeader)
    return makeError("RTSP response header longer than {} bytes", kMaxRtspHeader);
  const std::string_view head = in.substr(0, head_end);
  RtspResponse r;
  size_t line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  constexpr std::string_view kVersion = "RTSP/1.0 ";
  if (status_line.substr(0, kVersion.size()) != kVersion ||
      status_line.size() < kVersion.size() + 3)
    return makeError("not an RTSP/1.0 status line");
  const std::string_view code = status_line.substr(kVersion.size(), 3);
  const auto [ptr, ec] = std::from_chars(code.data(), code.data() + 3, r.status);
  if (ec != std::errc() || ptr != code.data() + 3 || r.status < 100 || r.status > 599)
    return makeError("RTSP status code is not a number from 100 to 599");
  size_t length = 0;
  while (line_end != std::string_view::npos) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string_view line = head.substr(
        start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return makeError("RTSP header line without a name");
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (!printable(name) || !printable(value))
      return makeError("RTSP header with control characters");
    if (equalsIgnoreCase(name, "Content-Length")) {
      const auto [p, e] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (e != std::errc() || p != value.data() + value.size() || length > kMaxRtspBody)
        return makeError("RTSP Content-Length is not a number up to {}", kMaxRtspBody);
    }
    r.headers.emplace_back(name, value);
  }
  const size_t body_at = head_end + 4;
  if (in.size() < body_at + length) return std::optional<RtspResponse>();
  r.body = std::string(in.substr(body_at, length));
  r.size = body_at + length;
  return std::optional<RtspResponse>(std::move(r));
}

std::optional<uint32_t> transportSsrc(std::string_view transport) {
  size_t at = 0;
  while (at < transport.size()) {
    size_t end = transport.find(';', at);
    if (end == std::string_view::npos) end = transport.size();
    const std::string_view param = trim(transport.substr(at, end - at));
    if (param.size() > 5 && equalsIgnoreCase(param.substr(0, 5), "ssrc=")) {
      const std::string_view hex = param.substr(5);
      uint32_t ssrc = 0;
      const auto [p, e] = std::from_chars(hex.data(), hex.data() + hex.size(), ssrc, 16);
      if (e != std::errc() || p != hex.data() + hex.size() || hex.size() > 8) return std::nullopt;
      return ssrc;
    }
    at = end + 1;
  }
  return std::nullopt;
}

Result<RtspResponse> RtspViewer::exchange(const std::string& method, const std::string& url,
                                          const std::string& headers) {
  std::string request = method + " " + url + " RTSP/1.0\r\nCSeq: " + std::to_string(++cseq_) +
                        "\r\nUser-Agent: funkhaus_pipeline_bench\r\n" + headers;
  if (!session_.empty()) request += "Session: " + session_ + "\r\n";
  request += "\r\n";
  if (send(fd_.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return makeError("{}: sending the request failed: {}", method, std::strerror(errno));
  const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(timeout_ms_) * 1'000'000;
  char buf[4096];
  for (;;) {
    auto parsed = parseRtspResponse(in_);
    if (!parsed) return makeError("{}: {}", method, parsed.error().message);
    if (parsed->has_value()) {
      RtspResponse r = std::move(**parsed);
      in_.erase(0, r.size);
      const std::string* cseq = r.header("CSeq");
      if (cseq == nullptr || *cseq != std::to_string(cseq_))
        return makeError("{}: the response's CSeq is not {}", method, cseq_);
      return r;
    }
    const uint64_t now = monotonicNs();
    if (now >= deadline) return makeError("{}: no response within {} ms", method, timeout_ms_);
    pollfd p{fd_.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000) + 1) <= 0) continue;
    const ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
    if (n == 0) return makeError("{}: the server closed the connection", method);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return makeError("{}: recv: {}", method, std::strerror(errno));
    }
    in_.append(buf, static_cast<size_t>(n));
  }
}

Result<RtspViewer> RtspViewer::play(uint16_t port, const std::string& path, RtpSink& sink,
                                    int timeout_ms) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return makeError("RTSP: socket: {}", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return makeError("RTSP: connect to 127.0.0.1:{}: {}", port, std::strerror(errno));
  const int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string url = "rtsp://127.0.0.1:" + std::to_string(port) + path;
  RtspViewer v(std::move(fd), url, timeout_ms);

  // DESCRIBE waits inside the server until it has parameter sets; a 503 means "not yet".
  std::optional<RtspResponse> describe;
  for (int attempt = 0; attempt < 10 && !describe; ++attempt) {
    auto r = v.exchange("DESCRIBE", url, "Accept: application/sdp\r\n");
    if (!r) return r.error();
    if (r->status == 503) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (r->status != 200) return makeError("DESCRIBE {}: status {}", url, r->status);
    describe = std::move(*r);
  }
  if (!describe) return makeError("DESCRIBE {}: still 503 after 10 attempts", url);

  const std::string control = controlUrl(*describe, url);
  auto setup =
      v.exchange("SETUP", control,
                 "Transport: RTP/AVP;unicast;client_port=" + std::to_string(sink.rtpPort()) + "-" +
                     std::to_string(sink.rtcpPort()) + "\r\n");
  if (!setup) return setup.error();
  if (setup->status != 200) return makeError("SETUP {}: status {}", control, setup->status);
  const std::string* session = setup->header("Session");
  const std::string* transport = setup->header("Transport");
  if (session == nullptr || session->empty()) return makeError("SETUP: no Session in the reply");
  if (transport == nullptr) return makeError("SETUP: no Transport in the reply");
  const auto ssrc = transportSsrc(*transport);
  if (!ssrc) return makeError("SETUP: the reply's Transport has no ssrc: {}", *transport);
  v.session_ = session->substr(0, session->find(';'));
  v.ssrc_ = *ssrc;
  sink.expectSsrc(*ssrc);

  auto play = v.exchange("PLAY", url, "Range: npt=now-\r\n");
  if (!play) return play.error();
  if (play->status != 200) return makeError("PLAY {}: status {}", url, play->status);
  return v;
}

Result<void> RtspViewer::keepAlive() {
  auto r = exchange("GET_PARAMETER", url_, "");
  if (!r) return r.error();
  if (r->status != 200) return makeError("GET_PARAMETER: status {}", r->status);
  return {};
}

Result<void> RtspViewer::teardown() {
  auto r = exchange("TEARDOWN", url_, "");
  if (!r) return r.error();
  if (r->status != 200) return makeError("TEARDOWN: status {}", r->status);
  session_.clear();
  return {};
}

}  // namespace funkhaus::bench
