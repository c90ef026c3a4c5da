// Fuzz target: a datagram on a GameStream media port (video or audio ping). Matches one of the
// two forms exactly or is refused.
// fuzz-parser: net-worker/source/gamestream/ping.cpp
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "funkhaus/net/gamestream/ping.h"

namespace {
constexpr std::string_view kPayload = "0123456789ABCDEF";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::net::gamestream;
  const std::span<const uint8_t> datagram(data, size);
  const auto counter = parsePing(datagram, kPayload);
  if (counter && size != 4 && size != kPayloadPingSize) __builtin_trap();
  if (counter && size == kPayloadPingSize &&
      std::string_view(reinterpret_cast<const char*>(data), kPingPayloadSize) != kPayload)
    __builtin_trap();
  // With no payload only the legacy form can match.
  if (parsePing(datagram, "") && size != 4) __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  std::vector<uint8_t> payload_ping(kPayload.begin(), kPayload.end());
  payload_ping.insert(payload_ping.end(), {0, 0, 0, 1});
  return {payload_ping, {'P', 'I', 'N', 'G'}};
}
