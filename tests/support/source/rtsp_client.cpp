// RtspClient: response parsing, the request/response exchange and interleaved frames.
#include "funkhaus/test/rtsp_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "funkhaus/common/clock.h"
#include "funkhaus/net/rtsp/rtsp_request.h"

namespace funkhaus::test {

namespace {

using net::equalsIgnoreCase;
using net::trim;

bool printable(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return false;
  return true;
}

uint64_t deadlineIn(int timeout_ms) {
  return monotonicNs() + static_cast<uint64_t>(timeout_ms > 0 ? timeout_ms : 0) * 1'000'000u;
}

}  // namespace

const std::string* RtspResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (equalsIgnoreCase(key, name)) return &value;
  return nullptr;
}

std::string RtspResponse::value(std::string_view name) const {
  const std::string* v = header(name);
  return v != nullptr ? *v : std::string();
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

std::string controlUrl(const RtspResponse& describe, const std::string& url) {
  std::string base = url;
  if (const std::string* cb = describe.header("Content-Base")) base = *cb;
  if (base.empty() || base.back() != '/') base += '/';
  // The video's media section when there is one (an audio section may follow), else the last.
  auto at = describe.body.rfind("a=control:");
  if (const auto video = describe.body.find("m=video"); video != std::string::npos) {
    const auto next = describe.body.find("\nm=", video);
    at = describe.body.find("a=control:", video);
    if (next != std::string::npos && at != std::string::npos && at > next) at = std::string::npos;
  }
  if (at == std::string::npos) return url;
  const auto end = describe.body.find_first_of("\r\n", at);
  const std::string value =
      describe.body.substr(at + 10, end == std::string::npos ? std::string::npos : end - at - 10);
  if (value.rfind("rtsp://", 0) == 0) return value;
  if (value == "*" || value.empty()) return url;
  return base + value;
}

Result<RtspClient> RtspClient::connect(Options options) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return makeError("RTSP client: socket: {}", std::strerror(errno));
  if (options.receive_buffer > 0)
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &options.receive_buffer,
               sizeof options.receive_buffer);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(options.port);
  if (inet_pton(AF_INET, options.host.c_str(), &a.sin_addr) != 1)
    return makeError("RTSP client: {} is not an IPv4 address", options.host);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return makeError("RTSP client: connect to {}:{}: {}", options.host, options.port,
                     std::strerror(errno));
  const int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return RtspClient(std::move(fd), std::move(options));
}

std::string RtspClient::url(std::string_view path) const {
  return "rtsp://" + options_.host + ":" + std::to_string(options_.port) + std::string(path);
}

Result<void> RtspClient::send(std::string_view bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return makeError("RTSP client: send: {}", std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
  return {};
}

Result<void> RtspClient::fill(size_t n, uint64_t deadline_ns) {
  char buf[65536];
  while (in_.size() < n) {
    if (eof_) return makeError("RTSP client: the server closed the connection");
    const uint64_t now = monotonicNs();
    if (now >= deadline_ns) return makeError("RTSP client: nothing more within the timeout");
    pollfd p{fd_.get(), POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>((deadline_ns - now + 999'999) / 1'000'000));
    if (ready <= 0) continue;
    const ssize_t got = recv(fd_.get(), buf, sizeof buf, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) {
      eof_ = true;
      continue;
    }
    in_.append(buf, static_cast<size_t>(got));
  }
  return {};
}

Result<bool> RtspClient::parseBuffered() {
  if (in_.empty()) return false;
  if (in_[0] == '$') {
    if (in_.size() < 4) return false;
    const size_t length =
        static_cast<size_t>(static_cast<uint8_t>(in_[2])) << 8 | static_cast<uint8_t>(in_[3]);
    if (in_.size() < 4 + length) return false;
    InterleavedFrame f;
    f.channel = static_cast<uint8_t>(in_[1]);
    f.data.assign(in_.begin() + 4, in_.begin() + 4 + static_cast<std::ptrdiff_t>(length));
    in_.erase(0, 4 + length);
    frames_.push_back(std::move(f));
    return true;
  }
  auto parsed = parseRtspResponse(in_);
  if (!parsed) return parsed.error();
  if (!parsed->has_value()) return false;
  in_.erase(0, (*parsed)->size);
  responses_.push_back(std::move(**parsed));
  return true;
}

Result<RtspResponse> RtspClient::response(int timeout_ms) {
  const uint64_t deadline = deadlineIn(timeout_ms);
  while (responses_.empty()) {
    auto parsed = parseBuffered();
    if (!parsed) return parsed.error();
    if (*parsed) continue;
    if (auto more = fill(in_.size() + 1, deadline); !more) return more.error();
  }
  RtspResponse r = std::move(responses_.front());
  responses_.pop_front();
  return r;
}

Result<InterleavedFrame> RtspClient::readFrame(int timeout_ms) {
  const uint64_t deadline = deadlineIn(timeout_ms);
  while (frames_.empty()) {
    auto parsed = parseBuffered();
    if (!parsed) return parsed.error();
    if (*parsed) continue;
    if (auto more = fill(in_.size() + 1, deadline); !more) return more.error();
  }
  InterleavedFrame f = std::move(frames_.front());
  frames_.pop_front();
  return f;
}

std::vector<InterleavedFrame> RtspClient::accessUnit(uint8_t channel, int timeout_ms) {
  const uint64_t deadline = deadlineIn(timeout_ms);
  std::vector<InterleavedFrame> out;
  for (;;) {
    const uint64_t now = monotonicNs();
    if (now >= deadline) return out;
    auto f = readFrame(static_cast<int>((deadline - now + 999'999) / 1'000'000));
    if (!f) return out;
    if (f->channel != channel) continue;
    const bool marker = f->data.size() >= 2 && (f->data[1] & 0x80) != 0;
    out.push_back(std::move(*f));
    if (marker) return out;
  }
}

Result<RtspResponse> RtspClient::request(std::string_view method, std::string_view uri,
                                         std::string_view headers) {
  std::string text = std::string(method) + " " + std::string(uri) +
                     " RTSP/1.0\r\nCSeq: " + std::to_string(++cseq_) + "\r\n";
  if (!options_.user_agent.empty()) text += "User-Agent: " + options_.user_agent + "\r\n";
  text += headers;
  text += "\r\n";
  if (auto sent = send(text); !sent) return sent.error();
  return response();
}

Result<RtspResponse> RtspClient::step(std::string_view method, const std::string& uri,
                                      std::string_view headers) {
  std::string all(headers);
  if (!session_.empty()) all += "Session: " + session_ + "\r\n";
  auto r = request(method, uri, all);
  if (!r) return makeError("{} {}: {}", method, uri, r.error().message);
  if (r->value("CSeq") != std::to_string(cseq_))
    return makeError("{} {}: the response's CSeq is '{}', not {}", method, uri, r->value("CSeq"),
                     cseq_);
  return r;
}

Result<RtspResponse> RtspClient::describe(const std::string& url) {
  auto r = step("DESCRIBE", url, "Accept: application/sdp\r\n");
  if (r && r->status == 200) control_ = controlUrl(*r, url);
  return r;
}

Result<RtspResponse> RtspClient::setupUdp(const std::string& control, uint16_t rtp_port,
                                          uint16_t rtcp_port) {
  auto r = step("SETUP", control,
                "Transport: RTP/AVP;unicast;client_port=" + std::to_string(rtp_port) + "-" +
                    std::to_string(rtcp_port) + "\r\n");
  if (r && r->status == 200) {
    const std::string session = r->value("Session");
    session_ = session.substr(0, session.find(';'));
    ssrc_ = transportSsrc(r->value("Transport"));
  }
  return r;
}

Result<RtspResponse> RtspClient::setupInterleaved(const std::string& control, uint8_t rtp_channel,
                                                  uint8_t rtcp_channel) {
  auto r = step("SETUP", control,
                "Transport: RTP/AVP/TCP;unicast;interleaved=" + std::to_string(rtp_channel) + "-" +
                    std::to_string(rtcp_channel) + "\r\n");
  if (r && r->status == 200) {
    const std::string session = r->value("Session");
    session_ = session.substr(0, session.find(';'));
    ssrc_ = transportSsrc(r->value("Transport"));
  }
  return r;
}

Result<RtspResponse> RtspClient::play(const std::string& url, std::string_view headers) {
  return step("PLAY", url, headers);
}

Result<RtspResponse> RtspClient::getParameter(const std::string& url) {
  return step("GET_PARAMETER", url, "");
}

Result<RtspResponse> RtspClient::teardown(const std::string& url) {
  auto r = step("TEARDOWN", url, "");
  if (r && r->status == 200) session_.clear();
  return r;
}

size_t RtspClient::unread() const {
  int n = 0;
  return ioctl(fd_.get(), FIONREAD, &n) == 0 && n > 0 ? static_cast<size_t>(n) : 0;
}

bool RtspClient::closedWithin(int timeout_ms) {
  const uint64_t deadline = deadlineIn(timeout_ms);
  while (!eof_ && monotonicNs() < deadline) {
    in_.clear();
    (void)fill(1, std::min(deadline, monotonicNs() + 50'000'000));
  }
  return eof_;
}

Result<RtspClient> playInterleaved(RtspClient::Options options, const std::string& url) {
  auto client = RtspClient::connect(std::move(options));
  if (!client) return client.error();
  auto describe = client->describe(url);
  if (!describe) return describe.error();
  if (describe->status != 200) return makeError("DESCRIBE {}: status {}", url, describe->status);
  auto setup = client->setupInterleaved(client->control());
  if (!setup) return setup.error();
  if (setup->status != 200)
    return makeError("SETUP {}: status {}", client->control(), setup->status);
  auto play = client->play(url);
  if (!play) return play.error();
  if (play->status != 200) return makeError("PLAY {}: status {}", url, play->status);
  return client;
}

}  // namespace funkhaus::test
