// Transport, Session and URI parsing.
#include "funkhaus/net/rtsp/rtsp_transport.h"

#include <fmt/format.h>

#include <charconv>

#include "funkhaus/net/rtsp/rtsp_request.h"

namespace funkhaus::net {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t at = s.find(sep);
    out.push_back(trim(s.substr(0, at)));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

template <class T>
std::optional<T> number(std::string_view s) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || value > T(~T{0}))
    return std::nullopt;
  return static_cast<T>(value);
}

// "a" or "a-b".
template <class T>
bool range(std::string_view s, std::optional<T>& first, std::optional<T>& second) {
  const size_t dash = s.find('-');
  first = number<T>(s.substr(0, dash));
  if (!first) return false;
  if (dash != std::string_view::npos) {
    second = number<T>(s.substr(dash + 1));
    if (!second) return false;
  }
  return true;
}

}  // namespace

std::vector<TransportSpec> parseTransport(std::string_view value) {
  std::vector<TransportSpec> out;
  for (std::string_view alternative : split(value, ',')) {
    const auto params = split(alternative, ';');
    // transport-protocol/profile[/lower-transport]
    const auto proto = split(params[0], '/');
    if (proto.size() < 2 || proto.size() > 3 || !equalsIgnoreCase(proto[0], "RTP")) continue;
    TransportSpec t;
    if (equalsIgnoreCase(proto[1], "AVP")) {
      t.profile = "RTP/AVP";
    } else if (equalsIgnoreCase(proto[1], "AVPF")) {
      t.profile = "RTP/AVPF";
    } else {
      continue;
    }
    if (proto.size() == 3) {
      if (equalsIgnoreCase(proto[2], "TCP")) {
        t.tcp = true;
      } else if (!equalsIgnoreCase(proto[2], "UDP")) {
        continue;
      }
    }
    bool ok = true;
    for (size_t i = 1; i < params.size() && ok; ++i) {
      const std::string_view p = params[i];
      const size_t eq = p.find('=');
      const std::string_view key = trim(p.substr(0, eq));
      const std::string_view val = eq == std::string_view::npos ? "" : trim(p.substr(eq + 1));
      if (equalsIgnoreCase(key, "multicast")) {
        t.multicast = true;
      } else if (equalsIgnoreCase(key, "unicast")) {
        t.multicast = false;
      } else if (equalsIgnoreCase(key, "client_port")) {
        ok = range(val, t.client_rtp_port, t.client_rtcp_port);
      } else if (equalsIgnoreCase(key, "interleaved")) {
        ok = range(val, t.rtp_channel, t.rtcp_channel);
      }
      // Others (mode, ttl, ssrc, destination, ...) are ignored; destination deliberately:
      // media goes to the RTSP peer's address only, never to a third party.
    }
    if (ok) out.push_back(std::move(t));
  }
  return out;
}

std::optional<TransportSpec> chooseTransport(std::string_view value) {
  for (TransportSpec t : parseTransport(value)) {
    if (t.multicast) continue;
    if (t.tcp) {
      if (!t.rtp_channel) t.rtp_channel = 0;
      if (!t.rtcp_channel) t.rtcp_channel = static_cast<uint8_t>(*t.rtp_channel + 1);
      return t;
    }
    if (!t.client_rtp_port || *t.client_rtp_port == 0) continue;
    if (!t.client_rtcp_port) t.client_rtcp_port = static_cast<uint16_t>(*t.client_rtp_port + 1);
    if (*t.client_rtcp_port == 0) continue;
    return t;
  }
  return std::nullopt;
}

std::string uriPath(std::string_view uri) {
  if (uri == "*") return "*";
  std::string_view rest = uri;
  for (std::string_view scheme : {"rtsp://", "rtspu://", "rtsps://"}) {
    if (rest.size() >= scheme.size() && equalsIgnoreCase(rest.substr(0, scheme.size()), scheme)) {
      rest.remove_prefix(scheme.size());
      const size_t slash = rest.find('/');
      if (slash == std::string_view::npos) return "/";
      rest.remove_prefix(slash);
      break;
    }
  }
  if (rest.empty() || rest.front() != '/') return "";
  return std::string(rest.substr(0, rest.find('?')));
}

std::optional<ModeRequest> uriModeRequest(std::string_view uri) {
  const size_t q = uri.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = uri.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.substr(0, 5) != "mode=") continue;
    std::string_view v = param.substr(5);
    auto number = [&](uint32_t max, uint32_t* out) {
      uint32_t n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end == v.data() || n == 0 || n > max) return false;
      v.remove_prefix(static_cast<size_t>(end - v.data()));
      *out = n;
      return true;
    };
    ModeRequest m;
    if (!number(16384, &m.width) || v.empty() || (v[0] != 'x' && v[0] != 'X')) return std::nullopt;
    v.remove_prefix(1);
    if (!number(16384, &m.height)) return std::nullopt;
    if (!v.empty()) {
      if (v[0] != '@') return std::nullopt;
      v.remove_prefix(1);
      if (!number(1000, &m.refresh_hz) || !v.empty()) return std::nullopt;
    }
    return m;
  }
  return std::nullopt;
}

std::optional<uint64_t> parseSessionId(std::string_view value) {
  const std::string_view id = trim(value.substr(0, value.find(';')));
  if (id.empty() || id.size() > 16) return std::nullopt;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n, 16);
  if (ec != std::errc() || end != id.data() + id.size()) return std::nullopt;
  return n;
}

std::string formatSessionId(uint64_t id) { return fmt::format("{:016x}", id); }

}  // namespace funkhaus::net
