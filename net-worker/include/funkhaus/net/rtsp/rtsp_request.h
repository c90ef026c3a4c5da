// RTSP 1.0 (RFC 2326) input of one connection: requests and '$'-interleaved binary frames,
// parsed with hard limits from untrusted bytes. funkhaus-net main thread (and its fuzz target).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace funkhaus::net {

struct RtspLimits {
  size_t max_request_line = 2048;  // method, URI and version
  size_t max_header_bytes = 8192;  // request line + header lines + empty line
  size_t max_headers = 64;         // header lines (a folded continuation counts once)
  size_t max_body = 4096;          // Content-Length
  size_t max_interleaved = 4096;   // '$' frames we keep whole; longer ones are skipped
};

struct RtspHeader {
  std::string name;
  std::string value;  // leading and trailing whitespace removed
};

struct RtspRequest {
  std::string method;  // as sent (methods are case-sensitive)
  std::string uri;
  int version_minor = 0;  // RTSP/1.x
  std::vector<RtspHeader> headers;
  std::string body;

  // The first header of that name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  // CSeq as a number, or nullopt when missing or not a number.
  std::optional<uint32_t> cseq() const;
};

struct RtspUnit {
  enum class Kind {
    kNeedMore,     // no complete unit yet: wait for more bytes
    kRequest,      // `request` holds a complete request of `consumed` bytes
    kInterleaved,  // a '$' frame: `channel`, `payload` (points into the input), `consumed` bytes
    kSkip,         // a '$' frame longer than max_interleaved: drop its 4-byte header (`consumed`)
                   // and the next `skip` bytes unparsed
    kBad,          // not RTSP: answer `status` (400, 413, 414, 505, ...) and close
  };
  Kind kind = Kind::kNeedMore;
  size_t consumed = 0;  // bytes of input this unit took (leading empty lines included)
  RtspRequest request;
  uint8_t channel = 0;
  std::span<const uint8_t> payload;
  size_t skip = 0;
  int status = 0;
  std::string error;
};

// Parses the first unit at the start of `input` (one connection's unconsumed bytes). Empty lines
// before a request are skipped (consumed with it). Tolerates LF without CR, folded header
// lines, any case in header names, and spaces or tabs around values.
RtspUnit parseRtspUnit(std::span<const uint8_t> input, const RtspLimits& limits = {});

// `s` without the spaces and tabs around it.
std::string_view trim(std::string_view s);
// The reason phrase of an RTSP status code ("Error" for one this server does not send).
const char* rtspReasonPhrase(int status);
// Case-insensitive ASCII comparison.
bool equalsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace funkhaus::net
