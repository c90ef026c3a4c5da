// ENet 1.3 wire format: parsing (bounds-checked) and building. Layouts from ENet's protocol.h.
#include "funkhaus/net/gamestream/enet_wire.h"
#include "funkhaus/common/byte_order.h"

#include <algorithm>
#include <array>

namespace funkhaus::net::gamestream::enet {
namespace {

// Fixed sizes by command number (ENet's packed protocol structs).
constexpr std::array<size_t, kCommandCount> kCommandSizes = {
    0,   // none
    8,   // ACKNOWLEDGE: header, BE16 received reliable seq, BE16 received sent time
    48,  // CONNECT
    44,  // VERIFY_CONNECT
    8,   // DISCONNECT: header, BE32 data
    4,   // PING: header
    6,   // SEND_RELIABLE: header, BE16 data length
    8,   // SEND_UNRELIABLE: header, BE16 unreliable seq, BE16 data length
    24,  // SEND_FRAGMENT: header, BE16 start seq, BE16 length, BE32 count, number, total, offset
    8,   // SEND_UNSEQUENCED: header, BE16 unsequenced group, BE16 data length
    12,  // BANDWIDTH_LIMIT: header, BE32 incoming, BE32 outgoing
    16,  // THROTTLE_CONFIGURE: header, BE32 interval, acceleration, deceleration
    24,  // SEND_UNRELIABLE_FRAGMENT: as SEND_FRAGMENT
};

bool carriesPayload(uint8_t number) {
  return number == kCommandSendReliable || number == kCommandSendUnreliable ||
         number == kCommandSendFragment || number == kCommandSendUnsequenced ||
         number == kCommandSendUnreliableFragment;
}

}  // namespace

size_t commandSize(uint8_t command_byte) {
  const uint8_t number = command_byte & kCommandMask;
  return number < kCommandCount ? kCommandSizes[number] : 0;
}

std::optional<ParsedDatagram> parseDatagram(std::span<const uint8_t> bytes) {
  if (bytes.size() < 2) return std::nullopt;
  ParsedDatagram out;
  const uint16_t word = bytes::be16(bytes.data());
  out.header.peer_id = word & kMaxPeerId;
  out.header.session = static_cast<uint8_t>((word & kHeaderSessionMask) >> kHeaderSessionShift);
  out.header.compressed = (word & kHeaderFlagCompressed) != 0;
  out.header.has_sent_time = (word & kHeaderFlagSentTime) != 0;
  out.header.size = out.header.has_sent_time ? 4 : 2;
  if (bytes.size() < out.header.size) return std::nullopt;
  if (out.header.has_sent_time) out.header.sent_time = bytes::be16(bytes.data() + 2);
  if (out.header.compressed) return out;  // the caller refuses it; nothing below is plain

  size_t at = out.header.size;
  while (at < bytes.size()) {
    if (bytes.size() - at < 4) {
      out.truncated = true;
      break;
    }
    const uint8_t* p = bytes.data() + at;
    Command c;
    c.command = p[0];
    c.channel = p[1];
    c.reliable_seq = bytes::be16(p + 2);
    const size_t fixed = commandSize(c.command);
    if (fixed == 0 || bytes.size() - at < fixed) {
      out.truncated = true;
      break;
    }
    size_t data_length = 0;
    switch (c.number()) {
      case kCommandAcknowledge:
        c.received_reliable_seq = bytes::be16(p + 4);
        c.received_sent_time = bytes::be16(p + 6);
        break;
      case kCommandConnect:
      case kCommandVerifyConnect:
        c.outgoing_peer_id = bytes::be16(p + 4);
        c.incoming_session_id = p[6];
        c.outgoing_session_id = p[7];
        c.mtu = bytes::be32(p + 8);
        c.window_size = bytes::be32(p + 12);
        c.channel_count = bytes::be32(p + 16);
        c.incoming_bandwidth = bytes::be32(p + 20);
        c.outgoing_bandwidth = bytes::be32(p + 24);
        c.throttle_interval = bytes::be32(p + 28);
        c.throttle_acceleration = bytes::be32(p + 32);
        c.throttle_deceleration = bytes::be32(p + 36);
        c.connect_id = bytes::be32(p + 40);
        if (c.number() == kCommandConnect) c.data = bytes::be32(p + 44);
        break;
      case kCommandDisconnect:
        c.data = bytes::be32(p + 4);
        break;
      case kCommandPing:
        break;
      case kCommandSendReliable:
        data_length = bytes::be16(p + 4);
        break;
      case kCommandSendUnreliable:
      case kCommandSendUnsequenced:
        c.sequence = bytes::be16(p + 4);
        data_length = bytes::be16(p + 6);
        break;
      case kCommandSendFragment:
      case kCommandSendUnreliableFragment:
        c.sequence = bytes::be16(p + 4);
        data_length = bytes::be16(p + 6);
        c.fragment_count = bytes::be32(p + 8);
        c.fragment_number = bytes::be32(p + 12);
        c.total_length = bytes::be32(p + 16);
        c.fragment_offset = bytes::be32(p + 20);
        break;
      case kCommandBandwidthLimit:
        c.incoming_bandwidth = bytes::be32(p + 4);
        c.outgoing_bandwidth = bytes::be32(p + 8);
        break;
      case kCommandThrottleConfigure:
        c.throttle_interval = bytes::be32(p + 4);
        c.throttle_acceleration = bytes::be32(p + 8);
        c.throttle_deceleration = bytes::be32(p + 12);
        break;
      default:
        break;
    }
    if (bytes.size() - at - fixed < data_length) {
      out.truncated = true;
      break;
    }
    c.payload = bytes.subspan(at + fixed, data_length);
    out.commands.push_back(c);
    at += fixed + data_length;
  }
  return out;
}

void appendHeader(std::vector<uint8_t>& out, uint16_t peer_id, uint8_t session,
                  std::optional<uint16_t> sent_time) {
  uint16_t word = static_cast<uint16_t>((peer_id & kMaxPeerId) |
                                        ((session << kHeaderSessionShift) & kHeaderSessionMask));
  if (sent_time) word |= kHeaderFlagSentTime;
  bytes::appendBe<uint16_t>(out, word);
  if (sent_time) bytes::appendBe<uint16_t>(out, *sent_time);
}

void appendCommand(std::vector<uint8_t>& out, const Command& c) {
  const size_t start = out.size();
  // One allocation for the whole command (most are written into an empty vector), instead of
  // one per doubling as the fields go in; appending to a datagram still grows geometrically.
  const size_t end = start + std::max<size_t>(4, commandSize(c.command)) +
                     (carriesPayload(c.number()) ? c.payload.size() : 0);
  if (out.capacity() < end) out.reserve(std::max(end, 2 * out.capacity()));
  out.push_back(c.command);
  out.push_back(c.channel);
  bytes::appendBe<uint16_t>(out, c.reliable_seq);
  const auto length = static_cast<uint16_t>(c.payload.size());
  switch (c.number()) {
    case kCommandAcknowledge:
      bytes::appendBe<uint16_t>(out, c.received_reliable_seq);
      bytes::appendBe<uint16_t>(out, c.received_sent_time);
      break;
    case kCommandConnect:
    case kCommandVerifyConnect:
      bytes::appendBe<uint16_t>(out, c.outgoing_peer_id);
      out.push_back(c.incoming_session_id);
      out.push_back(c.outgoing_session_id);
      bytes::appendBe<uint32_t>(out, c.mtu);
      bytes::appendBe<uint32_t>(out, c.window_size);
      bytes::appendBe<uint32_t>(out, c.channel_count);
      bytes::appendBe<uint32_t>(out, c.incoming_bandwidth);
      bytes::appendBe<uint32_t>(out, c.outgoing_bandwidth);
      bytes::appendBe<uint32_t>(out, c.throttle_interval);
      bytes::appendBe<uint32_t>(out, c.throttle_acceleration);
      bytes::appendBe<uint32_t>(out, c.throttle_deceleration);
      bytes::appendBe<uint32_t>(out, c.connect_id);
      if (c.number() == kCommandConnect) bytes::appendBe<uint32_t>(out, c.data);
      break;
    case kCommandDisconnect:
      bytes::appendBe<uint32_t>(out, c.data);
      break;
    case kCommandSendReliable:
      bytes::appendBe<uint16_t>(out, length);
      break;
    case kCommandSendUnreliable:
    case kCommandSendUnsequenced:
      bytes::appendBe<uint16_t>(out, c.sequence);
      bytes::appendBe<uint16_t>(out, length);
      break;
    case kCommandSendFragment:
    case kCommandSendUnreliableFragment:
      bytes::appendBe<uint16_t>(out, c.sequence);
      bytes::appendBe<uint16_t>(out, length);
      bytes::appendBe<uint32_t>(out, c.fragment_count);
      bytes::appendBe<uint32_t>(out, c.fragment_number);
      bytes::appendBe<uint32_t>(out, c.total_length);
      bytes::appendBe<uint32_t>(out, c.fragment_offset);
      break;
    case kCommandBandwidthLimit:
      bytes::appendBe<uint32_t>(out, c.incoming_bandwidth);
      bytes::appendBe<uint32_t>(out, c.outgoing_bandwidth);
      break;
    case kCommandThrottleConfigure:
      bytes::appendBe<uint32_t>(out, c.throttle_interval);
      bytes::appendBe<uint32_t>(out, c.throttle_acceleration);
      bytes::appendBe<uint32_t>(out, c.throttle_deceleration);
      break;
    default:
      break;
  }
  // Unknown numbers write the 4-byte header only; the known ones write exactly their size.
  out.resize(start + std::max<size_t>(4, commandSize(c.command)), 0);
  if (carriesPayload(c.number())) out.insert(out.end(), c.payload.begin(), c.payload.end());
}

Command acknowledge(uint8_t channel, uint16_t reliable_seq, uint16_t sent_time) {
  Command c;
  c.command = kCommandAcknowledge;
  c.channel = channel;
  c.reliable_seq = reliable_seq;  // ENet repeats the acknowledged number here
  c.received_reliable_seq = reliable_seq;
  c.received_sent_time = sent_time;
  return c;
}

Command ping(uint16_t reliable_seq) {
  Command c;
  c.command = kCommandPing | kFlagAcknowledge;
  c.channel = kConnectionChannel;
  c.reliable_seq = reliable_seq;
  return c;
}

Command disconnect(uint16_t reliable_seq, uint32_t data, bool reliable) {
  Command c;
  c.command = kCommandDisconnect | (reliable ? kFlagAcknowledge : kFlagUnsequenced);
  c.channel = kConnectionChannel;
  c.reliable_seq = reliable ? reliable_seq : 0;
  c.data = data;
  return c;
}

Command sendReliable(uint8_t channel, uint16_t reliable_seq, std::span<const uint8_t> payload) {
  Command c;
  c.command = kCommandSendReliable | kFlagAcknowledge;
  c.channel = channel;
  c.reliable_seq = reliable_seq;
  c.payload = payload;
  return c;
}

}  // namespace funkhaus::net::gamestream::enet
