// parsePing: the 20-byte payload ping of the session, the legacy "PING", nothing else.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "funkhaus/net/gamestream/ping.h"

namespace funkhaus::net::gamestream {
namespace {

constexpr std::string_view kPayload = "0123456789ABCDEF";

std::vector<uint8_t> ping(std::string_view payload, uint32_t counter) {
  std::vector<uint8_t> out(payload.begin(), payload.end());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(counter >> shift));
  return out;
}

TEST(GsPing, PayloadPingGivesItsBigEndianCounter) {
  EXPECT_EQ(parsePing(ping(kPayload, 1), kPayload), 1u);
  EXPECT_EQ(parsePing(ping(kPayload, 0x01020304), kPayload), 0x01020304u);
  EXPECT_EQ(parsePing(ping(kPayload, 0xFFFFFFFF), kPayload), 0xFFFFFFFFu);
}

TEST(GsPing, WrongPayloadRefused) {
  EXPECT_EQ(parsePing(ping("FEDCBA9876543210", 1), kPayload), std::nullopt);  // another session
  for (size_t i = 0; i < kPayload.size(); ++i) {
    std::vector<uint8_t> p = ping(kPayload, 7);
    p[i] ^= 0x20;  // case flip or other change of one character
    EXPECT_EQ(parsePing(p, kPayload), std::nullopt) << i;
  }
  // A payload that is not 16 characters never matches a 20-byte ping.
  EXPECT_EQ(parsePing(ping(kPayload, 1), ""), std::nullopt);
  EXPECT_EQ(parsePing(ping(kPayload, 1), "0123456789ABCDEF0"), std::nullopt);
}

TEST(GsPing, OtherLengthsRefused) {
  const std::vector<uint8_t> full = ping(kPayload, 1);
  for (size_t n = 0; n < full.size(); ++n)
    EXPECT_EQ(parsePing(std::span(full).first(n), kPayload), std::nullopt) << n;
  std::vector<uint8_t> longer = full;
  longer.push_back(0);
  EXPECT_EQ(parsePing(longer, kPayload), std::nullopt);
}

TEST(GsPing, LegacyPingIsZero) {
  const std::vector<uint8_t> legacy = {'P', 'I', 'N', 'G'};
  EXPECT_EQ(parsePing(legacy, kPayload), 0u);
  EXPECT_EQ(parsePing(legacy, ""), 0u);  // a session that gave no payload
  for (const std::string other : {"PINg", "ping", "PONG", "PIN\0"}) {
    const std::vector<uint8_t> bytes(other.begin(), other.end());
    EXPECT_EQ(parsePing(bytes, kPayload), std::nullopt) << other;
  }
  const std::vector<uint8_t> ping_and_more = {'P', 'I', 'N', 'G', 0, 0, 0, 1};
  EXPECT_EQ(parsePing(ping_and_more, kPayload), std::nullopt);
}

}  // namespace
}  // namespace funkhaus::net::gamestream
