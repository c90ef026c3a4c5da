// Fuzz target: an RTCP datagram from a viewer (UDP or interleaved). Parses or is refused.
// fuzz-parser: net-worker/source/rtsp/rtcp.cpp
#include <cstddef>
#include <cstdint>
#include <vector>

#include "funkhaus/net/rtsp/rtcp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto info = funkhaus::net::parseRtcp(std::span<const uint8_t>(data, size));
  if (info && info->reports.size() * 24 > size) __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus::net;
  std::vector<std::vector<uint8_t>> out;
  uint8_t sr[128];
  SenderReport r{0x11223344, 0x0123456789ABCDEFull, 9000, 10, 1000, "funkhaus@host"};
  out.emplace_back(sr, sr + buildSenderReport(r, sr));
  // RR with one block + PLI + FIR + NACK + BYE.
  out.push_back({0x81, 201, 0, 7, 0, 0,   0, 1, 0,    0,   0,    2,   5, 0, 0,    3,   0, 0,
                 1,    0,   0, 0, 0, 9,   0, 0, 0,    0,   0,    0,   0, 0, 0x81, 206, 0, 2,
                 0,    0,   0, 1, 0, 0,   0, 2, 0x84, 206, 0,    4,   0, 0, 0,    1,   0, 0,
                 0,    0,   0, 0, 0, 2,   7, 0, 0,    0,   0x81, 205, 0, 3, 0,    0,   0, 1,
                 0,    0,   0, 2, 0, 100, 0, 1, 0x81, 203, 0,    1,   0, 0, 0,    1});
  out.push_back({0xA1, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4});
  return out;
}
