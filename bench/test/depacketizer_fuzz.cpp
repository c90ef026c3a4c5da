// Fuzz target: --peers' RTP H.264 depacketizer (the receiver's UDP socket). The input is a
// sequence of datagrams, each prefixed by a 2-byte length; every one goes through
// parseRtpHeader and, if it parses, into one depacketizer. Any input gives units or drops,
// never a read outside a datagram or a unit larger than the bound.
// fuzz-parser: bench/source/peers_depacketizer.cpp bench/source/rtp_sink.cpp
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "funkhaus/bench/peers.h"
#include "funkhaus/net/rtsp/rtp_packetizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::bench;
  H264Depacketizer d;
  size_t at = 0;
  while (size - at >= 2) {
    const size_t n = std::min<size_t>(size_t{data[at]} << 8 | data[at + 1], size - at - 2);
    at += 2;
    const std::vector<uint8_t> datagram(data + at, data + at + n);  // exact size for ASan
    at += n;
    auto h = parseRtpHeader(datagram);
    if (!h) continue;
    if (auto unit = d.push(*h, datagram, 1)) {
      if (unit->annexb.empty() || unit->annexb.size() > H264Depacketizer::kMaxUnitBytes)
        __builtin_trap();
    }
  }
  const DepacketizerCounters& c = d.counters();
  if (c.frames + c.dropped_frames > c.packets) __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus::net;
  std::vector<std::vector<uint8_t>> seeds;
  auto packet = [](std::vector<uint8_t>& out, uint16_t seq, bool marker,
                   std::vector<uint8_t> payload) {
    std::vector<uint8_t> p(kRtpHeaderSize);
    writeRtpHeader(p.data(), marker, kRtpPayloadType, seq, 9000, 0x01020304);
    p.insert(p.end(), payload.begin(), payload.end());
    out.push_back(static_cast<uint8_t>(p.size() >> 8));
    out.push_back(static_cast<uint8_t>(p.size()));
    out.insert(out.end(), p.begin(), p.end());
  };
  // STAP-A (SPS, PPS), FU-A start/middle/end, a single NAL unit.
  std::vector<uint8_t> s;
  packet(s, 1, false, {0x78, 0, 4, 0x67, 0x42, 0, 0x1f, 0, 2, 0x68, 0xce});
  packet(s, 2, false, {0x7c, 0x85, 0x88, 0x84});
  packet(s, 3, false, {0x7c, 0x05, 0x33});
  packet(s, 4, true, {0x7c, 0x45, 0x55});
  packet(s, 5, true, {0x41, 0x9a, 0x01});
  seeds.push_back(s);
  return seeds;
}
