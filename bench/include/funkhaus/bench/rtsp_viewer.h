// RtspViewer: the benchmark's RTSP control connection to funkhaus-net — DESCRIBE, SETUP over UDP
// to an RtpSink's port pair, PLAY, keep-alives, TEARDOWN. Bench main thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "funkhaus/bench/rtp_sink.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::bench {

inline constexpr size_t kMaxRtspHeader = 16 * 1024;
inline constexpr size_t kMaxRtspBody = 64 * 1024;

struct RtspResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  size_t size = 0;  // bytes of the response, body included

  // The first header of that name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

// Parses one response at the start of `bytes`. nullopt: not complete yet. An error for a status
// line, header or Content-Length that is malformed, or a response beyond the size limits.
Result<std::optional<RtspResponse>> parseRtspResponse(std::string_view bytes);

// The ssrc=HEX parameter of a Transport header; nullopt if it has none (or it is malformed).
std::optional<uint32_t> transportSsrc(std::string_view transport);

class RtspViewer {
 public:
  // Connects to 127.0.0.1:port, DESCRIBEs `path`, SETs UP the track over UDP to the sink's port
  // pair, tells the sink the SSRC, and PLAYs. Every step waits at most timeout_ms.
  static Result<RtspViewer> play(uint16_t port, const std::string& path, RtpSink& sink,
                                 int timeout_ms);

  // GET_PARAMETER with the session: keeps the session alive (as players do).
  Result<void> keepAlive();
  Result<void> teardown();
  uint32_t ssrc() const { return ssrc_; }

 private:
  RtspViewer(UniqueFd fd, std::string url, int timeout_ms)
      : fd_(std::move(fd)), url_(std::move(url)), timeout_ms_(timeout_ms) {}
  Result<RtspResponse> exchange(const std::string& method, const std::string& url,
                                const std::string& headers);

  UniqueFd fd_;
  std::string url_;
  int timeout_ms_;
  uint32_t cseq_ = 0;
  std::string session_;
  uint32_t ssrc_ = 0;
  std::string in_;
};

}  // namespace funkhaus::bench
