// Fuzz target: the pipeline benchmark's sink parsers — RTP headers and RTCP sender reports (the
// sink's UDP sockets). The first byte picks the parser. Any input gives a value or a clear error.
// (The control connection's RTSP responses are the test client's: fuzz_rtsp_response.)
// fuzz-parser: bench/source/rtp_sink.cpp
#include <cstddef>
#include <cstdint>
#include <vector>

#include "funkhaus/bench/rtp_sink.h"
#include "funkhaus/net/rtsp/rtcp.h"
#include "funkhaus/net/rtsp/rtp_packetizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::bench;
  if (size == 0) return 0;
  const std::span<const uint8_t> in(data + 1, size - 1);
  switch (data[0] % 2) {
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
  return seeds;
}
