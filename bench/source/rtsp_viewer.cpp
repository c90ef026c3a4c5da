// RtspViewer: the DESCRIBE / SETUP / PLAY exchange of a UDP viewer.
#include "funkhaus/bench/rtsp_viewer.h"

#include <chrono>
#include <thread>

namespace funkhaus::bench {

Result<RtspViewer> RtspViewer::play(uint16_t port, const std::string& path, RtpSink& sink,
                                    int timeout_ms) {
  return play(
      port, path, sink.rtpPort(), sink.rtcpPort(), [&](uint32_t ssrc) { sink.expectSsrc(ssrc); },
      timeout_ms);
}

Result<RtspViewer> RtspViewer::play(uint16_t port, const std::string& path, uint16_t rtp_port,
                                    uint16_t rtcp_port,
                                    const std::function<void(uint32_t)>& on_ssrc, int timeout_ms) {
  test::RtspClient::Options options;
  options.port = port;
  options.timeout_ms = timeout_ms;
  options.user_agent = "funkhaus_pipeline_bench";
  auto client = test::RtspClient::connect(options);
  if (!client) return makeError("RTSP: {}", client.error().message);
  const std::string url = client->url(path);

  // DESCRIBE waits inside the server until it has parameter sets; a 503 means "not yet".
  bool described = false;
  for (int attempt = 0; attempt < 10 && !described; ++attempt) {
    auto r = client->describe(url);
    if (!r) return r.error();
    if (r->status == 503) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (r->status != 200) return makeError("DESCRIBE {}: status {}", url, r->status);
    described = true;
  }
  if (!described) return makeError("DESCRIBE {}: still 503 after 10 attempts", url);

  const std::string control = client->control();
  auto setup = client->setupUdp(control, rtp_port, rtcp_port);
  if (!setup) return setup.error();
  if (setup->status != 200) return makeError("SETUP {}: status {}", control, setup->status);
  if (client->session().empty()) return makeError("SETUP: no Session in the reply");
  const auto ssrc = client->ssrc();
  if (!ssrc)
    return makeError("SETUP: the reply's Transport has no ssrc: {}", setup->value("Transport"));
  on_ssrc(*ssrc);

  auto play = client->play(url, "Range: npt=now-\r\n");
  if (!play) return play.error();
  if (play->status != 200) return makeError("PLAY {}: status {}", url, play->status);
  return RtspViewer(std::move(*client), url, *ssrc);
}

Result<void> RtspViewer::keepAlive() {
  auto r = client_.getParameter(url_);
  if (!r) return r.error();
  if (r->status != 200) return makeError("GET_PARAMETER: status {}", r->status);
  return {};
}

Result<void> RtspViewer::teardown() {
  auto r = client_.teardown(url_);
  if (!r) return r.error();
  if (r->status != 200) return makeError("TEARDOWN: status {}", r->status);
  return {};
}

}  // namespace funkhaus::bench
