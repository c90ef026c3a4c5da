// ENet 1.3 wire format (the part Moonlight's control stream uses): protocol header and commands,
// parsed from untrusted bytes and built. Pure functions; used by funkhaus-net's control stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace funkhaus::net::gamestream::enet {

// Command numbers (low 4 bits of the command byte).
inline constexpr uint8_t kCommandAcknowledge = 1;
inline constexpr uint8_t kCommandConnect = 2;
inline constexpr uint8_t kCommandVerifyConnect = 3;
inline constexpr uint8_t kCommandDisconnect = 4;
inline constexpr uint8_t kCommandPing = 5;
inline constexpr uint8_t kCommandSendReliable = 6;
inline constexpr uint8_t kCommandSendUnreliable = 7;
inline constexpr uint8_t kCommandSendFragment = 8;
inline constexpr uint8_t kCommandSendUnsequenced = 9;
inline constexpr uint8_t kCommandBandwidthLimit = 10;
inline constexpr uint8_t kCommandThrottleConfigure = 11;
inline constexpr uint8_t kCommandSendUnreliableFragment = 12;
inline constexpr uint8_t kCommandCount = 13;
inline constexpr uint8_t kCommandMask = 0x0F;
// Command byte flags.
inline constexpr uint8_t kFlagAcknowledge = 0x80;  // reliable: the receiver acknowledges it
inline constexpr uint8_t kFlagUnsequenced = 0x40;

// Protocol header: BE16 peer id word (low 12 bits peer id, bits 12-13 session, bit 14 compressed,
// bit 15 "sent time follows"), then BE16 sent time (milliseconds, low 16 bits) if flagged.
inline constexpr uint16_t kHeaderFlagCompressed = 1u << 14;
inline constexpr uint16_t kHeaderFlagSentTime = 1u << 15;
inline constexpr uint16_t kHeaderSessionMask = 3u << 12;
inline constexpr uint16_t kHeaderSessionShift = 12;
inline constexpr uint16_t kMaxPeerId = 0xFFF;  // "no peer yet" (CONNECT)

inline constexpr uint8_t kConnectionChannel = 0xFF;  // connection-level commands' channel

inline constexpr uint32_t kMinimumMtu = 576;
inline constexpr uint32_t kMaximumMtu = 4096;
inline constexpr uint32_t kMinimumWindowSize = 4096;
inline constexpr uint32_t kMaximumWindowSize = 65536;
inline constexpr uint32_t kMaximumChannelCount = 255;
inline constexpr uint32_t kMaximumFragmentCount = 1024 * 1024;

// Fixed size of each command (header included, data excluded); 0 for an unknown number.
size_t commandSize(uint8_t command_byte);

struct ProtocolHeader {
  uint16_t peer_id = kMaxPeerId;  // low 12 bits
  uint8_t session = 0;            // 0..3
  bool compressed = false;
  bool has_sent_time = false;
  uint16_t sent_time = 0;
  size_t size = 0;  // 2 or 4 bytes
};

// One command. Which fields count depends on number(); `data` points into the parsed datagram.
struct Command {
  uint8_t command = 0;  // number | flags
  uint8_t channel = 0;
  uint16_t reliable_seq = 0;

  // ACKNOWLEDGE
  uint16_t received_reliable_seq = 0;
  uint16_t received_sent_time = 0;
  // CONNECT / VERIFY_CONNECT
  uint16_t outgoing_peer_id = 0;
  uint8_t incoming_session_id = 0;
  uint8_t outgoing_session_id = 0;
  uint32_t mtu = 0;
  uint32_t window_size = 0;
  uint32_t channel_count = 0;
  uint32_t incoming_bandwidth = 0;  // also BANDWIDTH_LIMIT
  uint32_t outgoing_bandwidth = 0;  // also BANDWIDTH_LIMIT
  uint32_t throttle_interval = 0;   // also THROTTLE_CONFIGURE
  uint32_t throttle_acceleration = 0;
  uint32_t throttle_deceleration = 0;
  uint32_t connect_id = 0;
  uint32_t data = 0;  // CONNECT data, DISCONNECT data
  // SEND_UNRELIABLE: unreliable sequence number; SEND_UNSEQUENCED: unsequenced group;
  // SEND_FRAGMENT / SEND_UNRELIABLE_FRAGMENT: start sequence number.
  uint16_t sequence = 0;
  uint32_t fragment_count = 0;
  uint32_t fragment_number = 0;
  uint32_t total_length = 0;
  uint32_t fragment_offset = 0;
  std::span<const uint8_t> payload;  // SEND_* data

  uint8_t number() const { return command & kCommandMask; }
  bool acknowledged() const { return (command & kFlagAcknowledge) != 0; }
};

struct ParsedDatagram {
  ProtocolHeader header;
  std::vector<Command> commands;  // the well-formed commands, in order
  bool truncated = false;         // parsing stopped at a malformed command (the rest is ignored)
};

// Parses a datagram: nullopt if even the header is short. Commands are taken up to the first
// one that is unknown or runs past the end (ENet ignores the rest of such a datagram).
std::optional<ParsedDatagram> parseDatagram(std::span<const uint8_t> bytes);

// Appends a protocol header (4 bytes with sent time, else 2).
void appendHeader(std::vector<uint8_t>& out, uint16_t peer_id, uint8_t session,
                  std::optional<uint16_t> sent_time);
// Appends one command: its fixed part by number(), then `payload` for the SEND_* commands
// (whose length field is payload.size()).
void appendCommand(std::vector<uint8_t>& out, const Command& command);

// Convenience builders of the commands the server sends.
Command acknowledge(uint8_t channel, uint16_t reliable_seq, uint16_t sent_time);
Command ping(uint16_t reliable_seq);
Command disconnect(uint16_t reliable_seq, uint32_t data, bool reliable);
Command sendReliable(uint8_t channel, uint16_t reliable_seq, std::span<const uint8_t> payload);

}  // namespace funkhaus::net::gamestream::enet
