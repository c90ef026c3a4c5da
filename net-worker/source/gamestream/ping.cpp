// Media-port ping parser: two fixed forms, compared byte by byte.
#include "funkhaus/net/gamestream/ping.h"

#include <algorithm>

#include "funkhaus/common/byte_order.h"

namespace funkhaus::net::gamestream {

std::optional<uint32_t> parsePing(std::span<const uint8_t> datagram, std::string_view payload16) {
  if (datagram.size() == 4 && std::equal(datagram.begin(), datagram.end(), "PING")) return 0;
  if (datagram.size() != kPayloadPingSize || payload16.size() != kPingPayloadSize)
    return std::nullopt;
  if (!std::equal(payload16.begin(), payload16.end(), datagram.begin(),
                  [](char a, uint8_t b) { return static_cast<uint8_t>(a) == b; }))
    return std::nullopt;
  return bytes::be32(datagram.data() + kPingPayloadSize);
}

}  // namespace funkhaus::net::gamestream
