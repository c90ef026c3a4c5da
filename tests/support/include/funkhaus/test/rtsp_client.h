// RtspClient: the one RTSP test client — a viewer's control connection to funkhaus-net over TCP:
// DESCRIBE, SETUP over UDP or TCP interleaved, PLAY, GET_PARAMETER, TEARDOWN, response parsing,
// interleaved frames, and a viewer that stops reading (the slow-viewer tests). Used by the net
// and client tests and the pipeline benchmark; each client on one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::test {

inline constexpr size_t kMaxRtspHeader = 16 * 1024;
inline constexpr size_t kMaxRtspBody = 64 * 1024;

struct RtspResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, values trimmed
  std::string body;
  size_t size = 0;  // bytes of the response, body included

  // The first header of that name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  // Its value, or "" when there is none.
  std::string value(std::string_view name) const;
};

// Parses one response at the start of `bytes` (what a server sent: untrusted). nullopt: not
// complete yet. An error for a status line, header or Content-Length that is malformed, or a
// response beyond kMaxRtspHeader / kMaxRtspBody.
Result<std::optional<RtspResponse>> parseRtspResponse(std::string_view bytes);

// The ssrc=HEX parameter of a Transport header; nullopt if it has none (or it is malformed).
std::optional<uint32_t> transportSsrc(std::string_view transport);

// The video's control URL in a DESCRIBE answer: the a=control of the m=video section (else the
// SDP's last), absolute or relative to the Content-Base (else to `url`, the URL described).
std::string controlUrl(const RtspResponse& describe, const std::string& url);

// One '$'-framed unit of the connection (RTSP 10.12).
struct InterleavedFrame {
  uint8_t channel = 0;
  std::vector<uint8_t> data;
};

class RtspClient {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 0;
    // SO_RCVBUF set before connecting (0: the kernel's default). A small one and a client that
    // stops reading make a viewer whose path fills up at once.
    int receive_buffer = 0;
    int timeout_ms = 3000;   // how long a response may take
    std::string user_agent;  // a User-Agent line on every request when not empty
  };

  static Result<RtspClient> connect(Options options);

  int fd() const { return fd_.get(); }
  // rtsp://HOST:PORT + path.
  std::string url(std::string_view path) const;

  // Bytes as they are (hostile input).
  Result<void> send(std::string_view bytes);
  // The next response; interleaved frames that come first are kept for readFrame()/frames().
  // Errors: timeout, the server closed, or a malformed response.
  Result<RtspResponse> response() { return response(options_.timeout_ms); }
  Result<RtspResponse> response(int timeout_ms);
  // "METHOD uri RTSP/1.0" with the next CSeq and `headers` (whole lines, CRLF each), and its
  // response whatever its status. The session is not added: the steps below add it.
  Result<RtspResponse> request(std::string_view method, std::string_view uri,
                               std::string_view headers = "");

  // A player's steps. Each returns the response whatever its status (the caller checks it) and
  // fails when its CSeq is not the request's. describe() notes the media's control URL; a
  // successful SETUP notes the session (and the SSRC of its Transport), which PLAY,
  // GET_PARAMETER and TEARDOWN then send.
  Result<RtspResponse> describe(const std::string& url);
  Result<RtspResponse> setupUdp(const std::string& control, uint16_t rtp_port, uint16_t rtcp_port);
  Result<RtspResponse> setupInterleaved(const std::string& control, uint8_t rtp_channel = 0,
                                        uint8_t rtcp_channel = 1);
  Result<RtspResponse> play(const std::string& url, std::string_view headers = "");
  Result<RtspResponse> getParameter(const std::string& url);
  Result<RtspResponse> teardown(const std::string& url);

  const std::string& control() const { return control_; }  // "" before DESCRIBE
  const std::string& session() const { return session_; }  // "" before SETUP
  std::optional<uint32_t> ssrc() const { return ssrc_; }

  // The next interleaved frame (one kept from before, or read now); a response that comes
  // first is kept for response(). Error: timeout or the server closed.
  Result<InterleavedFrame> readFrame(int timeout_ms);
  // Frames on `channel` up to the one with the RTP marker bit: one access unit. Frames on other
  // channels are dropped. Returns what came before the timeout (possibly an incomplete unit).
  std::vector<InterleavedFrame> accessUnit(uint8_t channel, int timeout_ms = 3000);
  // Interleaved frames read while waiting for responses.
  std::deque<InterleavedFrame>& frames() { return frames_; }

  // For a viewer that stopped reading: bytes waiting unread in its receive buffer.
  size_t unread() const;
  // True if the server closes the connection within the timeout (what arrives is discarded).
  bool closedWithin(int timeout_ms);

 private:
  RtspClient(UniqueFd fd, Options options) : fd_(std::move(fd)), options_(std::move(options)) {}
  // Reads until the buffer holds at least `n` bytes. Error: timeout or EOF.
  Result<void> fill(size_t n, uint64_t deadline_ns);
  // Parses what is buffered: one frame into frames_ or one response into responses_. False
  // when nothing whole is buffered yet; an error when the bytes are neither.
  Result<bool> parseBuffered();
  Result<RtspResponse> step(std::string_view method, const std::string& uri,
                            std::string_view headers);

  UniqueFd fd_;
  Options options_;
  std::string in_;
  std::deque<InterleavedFrame> frames_;
  std::deque<RtspResponse> responses_;
  uint32_t cseq_ = 0;
  bool eof_ = false;
  std::string control_, session_;
  std::optional<uint32_t> ssrc_;
};

// Connects and plays `url` over TCP interleaved (DESCRIBE, SETUP of the media's control URL on
// channels 0-1, PLAY); an error names the step and status that failed. The caller decides
// whether it ever reads again.
Result<RtspClient> playInterleaved(RtspClient::Options options, const std::string& url);

}  // namespace funkhaus::test
