// RtspViewer: the benchmark's RTSP control connection to funkhaus-net — DESCRIBE, SETUP over UDP
// to an RtpSink's port pair, PLAY, keep-alives, TEARDOWN — on the one RTSP test client
// (funkhaus/test/rtsp_client.h). Bench main thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "funkhaus/bench/rtp_sink.h"
#include "funkhaus/common/result.h"
#include "funkhaus/test/rtsp_client.h"

namespace funkhaus::bench {

class RtspViewer {
 public:
  // Connects to 127.0.0.1:port, DESCRIBEs `path` (again while the answer is 503: no parameter
  // sets yet), SETs UP the track over UDP to the sink's port pair, tells the sink the SSRC, and
  // PLAYs. Every step waits at most timeout_ms.
  static Result<RtspViewer> play(uint16_t port, const std::string& path, RtpSink& sink,
                                 int timeout_ms);
  // The same to any receiver's port pair; `on_ssrc` learns the SSRC before PLAY.
  static Result<RtspViewer> play(uint16_t port, const std::string& path, uint16_t rtp_port,
                                 uint16_t rtcp_port, const std::function<void(uint32_t)>& on_ssrc,
                                 int timeout_ms);

  // GET_PARAMETER with the session: keeps the session alive (as players do).
  Result<void> keepAlive();
  Result<void> teardown();
  uint32_t ssrc() const { return ssrc_; }

 private:
  RtspViewer(test::RtspClient client, std::string url, uint32_t ssrc)
      : client_(std::move(client)), url_(std::move(url)), ssrc_(ssrc) {}

  test::RtspClient client_;
  std::string url_;
  uint32_t ssrc_ = 0;
};

}  // namespace funkhaus::bench
