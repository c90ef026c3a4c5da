// GameStream media-port pings: the datagrams a Moonlight client sends every 500 ms to the video
// and audio ports so the host learns where to send (gamestream.md §9). funkhaus-net main thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace funkhaus::net::gamestream {

// Length of an X-SS-Ping-Payload value and of the payload part of a ping.
inline constexpr size_t kPingPayloadSize = 16;
// A payload ping: the 16 payload characters, then a BE32 counter (the client starts at 1).
inline constexpr size_t kPayloadPingSize = kPingPayloadSize + 4;

// The counter of a ping for the stream whose X-SS-Ping-Payload was `payload16`:
//  - 20 bytes whose first 16 equal `payload16` (which must be 16 characters, else this form
//    never matches): the BE32 counter that follows;
//  - the 4 ASCII bytes "PING" (legacy form, sent by clients the host gave no payload): 0. Such a
//    ping says nothing about which session it belongs to; the caller matches it by source
//    address. (A payload ping with counter 0 also returns 0; Moonlight starts at 1.)
// nullopt for anything else (another session's payload, other lengths, other bytes).
std::optional<uint32_t> parsePing(std::span<const uint8_t> datagram, std::string_view payload16);

}  // namespace funkhaus::net::gamestream
