// Fuzz target: bytes a viewer sends on an RTSP connection. Every unit parses or is refused with
// a status; consumed counts stay inside the input; header values the server interprets
// (Transport, Session, the URI path) parse without crashing.
// fuzz-parser: net-worker/source/rtsp/rtsp_request.cpp net-worker/source/rtsp/rtsp_transport.cpp
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "funkhaus/net/rtsp/rtsp_request.h"
#include "funkhaus/net/rtsp/rtsp_transport.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::net;
  std::span<const uint8_t> input(data, size);
  for (int units = 0; units < 64 && !input.empty(); ++units) {
    RtspUnit u = parseRtspUnit(input);
    if (u.kind == RtspUnit::Kind::kNeedMore || u.kind == RtspUnit::Kind::kBad) break;
    if (u.consumed == 0 || u.consumed > input.size()) __builtin_trap();
    if (u.kind == RtspUnit::Kind::kRequest) {
      (void)u.request.cseq();
      (void)uriPath(u.request.uri);
      if (auto m = uriModeRequest(u.request.uri);
          m && (m->width == 0 || m->width > 16384 || m->height == 0 || m->height > 16384 ||
                m->refresh_hz > 1000))
        __builtin_trap();
      if (const std::string* t = u.request.header("Transport")) (void)chooseTransport(*t);
      if (const std::string* s = u.request.header("Session")) (void)parseSessionId(*s);
    }
    if (u.kind == RtspUnit::Kind::kInterleaved &&
        (u.payload.data() < input.data() ||
         u.payload.data() + u.payload.size() > input.data() + input.size()))
      __builtin_trap();
    input = input.subspan(u.consumed);
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace std::string_literals;  // keeps the NUL bytes of the '$' frame
  const std::string requests[] = {
      "OPTIONS rtsp://127.0.0.1:8554/live RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf59.27.100\r\n\r\n",
      "SETUP rtsp://127.0.0.1:8554/live/track0 RTSP/1.0\r\nTransport: "
      "RTP/AVP/UDP;unicast;client_port=9884-9885\r\nCSeq: 3\r\n\r\n"
      "PLAY rtsp://127.0.0.1:8554/live/ RTSP/1.0\r\nRange: npt=0.000-\r\nCSeq: 4\r\nSession: "
      "0123456789abcdef\r\n\r\n",
      "SETUP rtsp://h/live/track0 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;multicast,"
      "RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n$\x01\x00\x08\x81\xc9\x00\x01\x00\x00\x00\x01"s,
      "SET_PARAMETER * RTSP/1.0\nCSeq: 9\nContent-Length: 4\nX: a\n b\n\nbody",
  };
  std::vector<std::vector<uint8_t>> out;
  for (const auto& r : requests) out.emplace_back(r.begin(), r.end());
  return out;
}
