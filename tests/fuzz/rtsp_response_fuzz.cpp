// Fuzz target: the RTSP test client's response parser and its Transport/SDP helpers, which read
// what a server sent. Any input gives a response, "not complete yet" or a clear error.
// fuzz-parser: tests/support/source/rtsp_client.cpp
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/test/rtsp_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::test;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = parseRtspResponse(text);
  if (r && r->has_value()) {
    const RtspResponse& response = **r;
    if (response.size > text.size() || response.body.size() > kMaxRtspBody) __builtin_trap();
    if (response.status < 100 || response.status > 599) __builtin_trap();
    if (const std::string* t = response.header("Transport")) {
      (void)transportSsrc(*t);
      if (response.value("transport") != *t) __builtin_trap();  // names match in any case
    }
    (void)controlUrl(response, "rtsp://127.0.0.1:8554/live");
  }
  if (!r && r.error().message.empty()) __builtin_trap();
  (void)transportSsrc(text);
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  const std::string setup =
      "RTSP/1.0 200 OK\r\nCSeq: 2\r\nTransport: "
      "RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001;ssrc=0A0B0C0D;mode=play\r\n"
      "Session: 1234ABCD;timeout=60\r\nContent-Length: 5\r\n\r\nv=0\r\n";
  const std::string describe =
      "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Base: rtsp://127.0.0.1:8554/live/\r\n"
      "Content-Type: application/sdp\r\nContent-Length: 45\r\n\r\nv=0\r\nm=video 0 RTP/AVP 96\r\n"
      "a=control:track0\r\n";
  return {{setup.begin(), setup.end()}, {describe.begin(), describe.end()}};
}
