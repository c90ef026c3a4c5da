// RTSP header values the server interprets: Transport (RFC 2326 12.39), Session, and the path
// of a request URI. Parsed from untrusted requests on funkhaus-net's main thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace funkhaus::net {

struct TransportSpec {
  std::string profile = "RTP/AVP";  // RTP/AVP or RTP/AVPF, echoed in the reply
  bool tcp = false;                 // RTP/AVP/TCP: interleaved on the RTSP connection
  bool multicast = false;
  std::optional<uint16_t> client_rtp_port, client_rtcp_port;  // UDP
  std::optional<uint8_t> rtp_channel, rtcp_channel;           // TCP
};

// The comma-separated alternatives of a Transport header, in the client's order of preference.
// Alternatives that are not RTP (or malformed) are left out.
std::vector<TransportSpec> parseTransport(std::string_view value);

// The first alternative we can serve: unicast, and for UDP with a client port (RTCP defaults to
// RTP + 1; TCP channels default to 0-1). nullopt if none.
std::optional<TransportSpec> chooseTransport(std::string_view value);

// The path of a request URI: "rtsp://host:port/a/b?x" -> "/a/b"; "/a" -> "/a"; "*" -> "*".
// "" for anything else.
std::string uriPath(std::string_view uri);

// The display mode a viewer asks for in the URI's query: `mode=WIDTHxHEIGHT` or
// `mode=WIDTHxHEIGHT@HZ` (other parameters ignored). nullopt when absent or malformed (each
// number 1..16384, refresh 1..1000).
struct ModeRequest {
  uint32_t width = 0, height = 0, refresh_hz = 0;
  friend bool operator==(const ModeRequest&, const ModeRequest&) = default;
};
std::optional<ModeRequest> uriModeRequest(std::string_view uri);

// The session id of a Session header value ("0123456789abcdef;timeout=60"), or nullopt.
std::optional<uint64_t> parseSessionId(std::string_view value);

std::string formatSessionId(uint64_t id);

}  // namespace funkhaus::net
