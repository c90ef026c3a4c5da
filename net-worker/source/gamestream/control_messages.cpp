// GameStream control message payloads: bounds-checked decoding and building.
#include "funkhaus/net/gamestream/control_messages.h"
#include "funkhaus/common/byte_order.h"

namespace funkhaus::net::gamestream {
namespace {

Error tooShort(uint16_t type, size_t got, size_t need) {
  return makeError("control message 0x{:04x}: {} payload bytes, needs {}", type, got, need);
}

}  // namespace

Result<ClientControl> decodeClientControl(const ControlMessage& message) {
  const auto& p = message.payload;
  switch (message.type) {
    case kControlRequestIdr:
      return ClientControl{IdrRequest{}};
    case kControlStartB:
      return ClientControl{StartB{}};
    case kControlPeriodicPing:
      return ClientControl{PeriodicPing{}};
    case kControlInvalidateRefFrames: {
      if (p.size() < 16) return tooShort(message.type, p.size(), 16);
      return ClientControl{RfiRequest{bytes::le64(p.data()), bytes::le64(p.data() + 8)}};
    }
    case kControlLtrAck: {
      if (p.size() < 4) return tooShort(message.type, p.size(), 4);
      return ClientControl{LtrAck{bytes::le32(p.data())}};
    }
    case kControlInputData: {
      // The input decoder validates the packet; here only that there is one.
      if (p.size() < 8) return tooShort(message.type, p.size(), 8);
      return ClientControl{InputData{p}};
    }
    case kControlFrameFecStatus: {
      if (p.size() < 21) return tooShort(message.type, p.size(), 21);
      FecStatus s;
      s.frame_index = bytes::be32(p.data());
      s.highest_received_seq = bytes::be16(p.data() + 4);
      s.next_contiguous_seq = bytes::be16(p.data() + 6);
      s.missing_before_highest = bytes::be16(p.data() + 8);
      s.total_data = bytes::be16(p.data() + 10);
      s.total_parity = bytes::be16(p.data() + 12);
      s.received_data = bytes::be16(p.data() + 14);
      s.received_parity = bytes::be16(p.data() + 16);
      s.fec_percent = p[18];
      s.block_index = p[19];
      s.block_count = p[20];
      return ClientControl{s};
    }
    default:
      return ClientControl{UnknownControl{message.type}};
  }
}

std::vector<uint8_t> terminationPayload(uint32_t reason) {
  return {static_cast<uint8_t>(reason >> 24), static_cast<uint8_t>(reason >> 16),
          static_cast<uint8_t>(reason >> 8), static_cast<uint8_t>(reason)};
}

std::vector<uint8_t> rumblePayload(uint16_t controller, uint16_t low_frequency,
                                   uint16_t high_frequency) {
  std::vector<uint8_t> out(4, 0);
  bytes::appendLe<uint16_t>(out, controller);
  bytes::appendLe<uint16_t>(out, low_frequency);
  bytes::appendLe<uint16_t>(out, high_frequency);
  return out;
}

}  // namespace funkhaus::net::gamestream
