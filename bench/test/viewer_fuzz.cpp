// Fuzz target: the pipeline benchmark's viewer parsers — RTP headers and RTCP sender reports
// (the sink's UDP sockets) and RTSP responses with their Transport header (the control
// connection). The first byte picks the parser. Any input gives a value or a clear error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/bench/rtp_sink.h"
#include "funkhaus/bench/rtsp_viewer.h"
#include "funkhaus/net/rtcp.h"
#include "funkhaus/net/rtp_packetizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::bench;
  if (size == 0) return 0;
  const std::span<const uint8_t> in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto h = parseRtpHeader(in);
      if (h && (h->payload_offset > in.size() || h->payload_offset + h->payload_size > in.size()))
        __builtin_trap();
      if (!h && h.error().message.empty()) __builtin_trap();
      break;
    }
    case 1: {
      auto sr = findSenderReport(in);
      if (!sr && sr.error().message.empty()) __builtin_trap();
      break;
    }
    case 2: {
      const std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
      auto r = parseRtspResponse(text);
      if (r && r->has_value()) {
        const RtspResponse& response = **r;
        if (response.size > text.size() || response.body.size() > kMaxRtspBody) __builtin_trap();
        if (response.status < 100 || response.status > 599) __builtin_trap();
        if (const std::string* t = response.header("Transport")) (void)transportSsrc(*t);
      }
      if (!r && r.error().message.empty()) __builtin_trap();
      (void)transportSsrc(text);
      break;
    }
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus::net;
  std::vector<std::vector<uint8_t>> seeds;
  // RTP: header + one payload byte; and with a CSRC, an extension and padding.
  std::vector<uint8_t> rtp(1 + kRtpHeaderSize + 1, 0x42);
  rtp[0] = 0;
  writeRtpHeader(rtp.data() + 1, true, kRtpPayloadType, 1234, 0xDEADBEEF, 0x01020304);
  seeds.push_back(rtp);
  seeds.push_back({0, 0xB1, 0xE0, 0,    1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0,
                   0, 4,    0xBE, 0xDE, 0, 1, 1, 2, 3, 4, 9, 9, 0, 2});
  // RTCP: SR + SDES as funkhaus-net sends it.
  SenderReport sr;
  sr.ssrc = 0x01020304;
  sr.ntp_time = ntpTime(1'700'000'000, 123'456'789);
  sr.rtp_time = 99;
  sr.cname = "fuzz";
  std::vector<uint8_t> rtcp(128);
  rtcp.resize(buildSenderReport(sr, std::span<uint8_t>(rtcp.data(), rtcp.size())));
  rtcp.insert(rtcp.begin(), 1);
  seeds.push_back(rtcp);
  // RTSP: a SETUP reply.
  const std::string reply =
      "\x02RTSP/1.0 200 OK\r\nCSeq: 2\r\nTransport: "
      "RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001;ssrc=0A0B0C0D;mode=play\r\n"
      "Session: 1234ABCD;timeout=60\r\nContent-Length: 5\r\n\r\nv=0\r\n";
  seeds.emplace_back(reply.begin(), reply.end());
  return seeds;
}
