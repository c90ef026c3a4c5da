// GameStream control message payloads (gamestream.md §5.3): the client's messages the host acts
// on, decoded from untrusted bytes, and the host's messages built. funkhaus-net's control stream.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/net/gamestream/control_cipher.h"

namespace funkhaus::net::gamestream {

// Client -> host message types (the inner LE16 type).
inline constexpr uint16_t kControlPeriodicPing = 0x0200;
inline constexpr uint16_t kControlInputData = 0x0206;
inline constexpr uint16_t kControlInvalidateRefFrames = 0x0301;
inline constexpr uint16_t kControlInvalidateReferenceFrames = kControlInvalidateRefFrames;
inline constexpr uint16_t kControlRequestIdr = 0x0302;  // also "start A" right after connecting
inline constexpr uint16_t kControlStartB = 0x0307;
inline constexpr uint16_t kControlLtrAck = 0x0350;
inline constexpr uint16_t kControlFrameFecStatus = 0x5502;
// Host -> client message types.
inline constexpr uint16_t kControlTermination = 0x0109;
inline constexpr uint16_t kControlRumble = 0x010B;

// Termination reasons (BE32 in 0x0109).
inline constexpr uint32_t kTerminationGraceful = 0x80030023;
inline constexpr uint32_t kTerminationProtectedContent = 0x800E9302;
inline constexpr uint32_t kTerminationFrameConversion = 0x800E9403;

struct IdrRequest {};
struct StartB {};
struct PeriodicPing {};
// Invalidate reference frames first..last (payload LE64 first, LE64 last, 8 reserved bytes).
struct RfiRequest {
  uint64_t first_frame = 0;
  uint64_t last_frame = 0;
};
struct LtrAck {
  uint32_t frame_index = 0;
};
// One input packet (§8), passed on as bytes: BE32 size, LE32 magic, body.
struct InputData {
  std::vector<uint8_t> bytes;
};
// Per-frame FEC statistics (all fields big-endian on the wire).
struct FecStatus {
  uint32_t frame_index = 0;
  uint16_t highest_received_seq = 0;
  uint16_t next_contiguous_seq = 0;
  uint16_t missing_before_highest = 0;
  uint16_t total_data = 0;
  uint16_t total_parity = 0;
  uint16_t received_data = 0;
  uint16_t received_parity = 0;
  uint8_t fec_percent = 0;
  uint8_t block_index = 0;
  uint8_t block_count = 0;
};
struct UnknownControl {
  uint16_t type = 0;
};

using ClientControl = std::variant<IdrRequest, StartB, PeriodicPing, RfiRequest, LtrAck, InputData,
                                   FecStatus, UnknownControl>;

// Decodes a decrypted client message; an error names a payload too short for its type. Unknown
// types decode to UnknownControl (the client sends a few the host may ignore).
Result<ClientControl> decodeClientControl(const ControlMessage& message);

// 0x0109 payload: BE32 reason.
std::vector<uint8_t> terminationPayload(uint32_t reason = kTerminationGraceful);
// 0x010B payload: 4 ignored bytes, LE16 controller, LE16 low-frequency, LE16 high-frequency motor.
std::vector<uint8_t> rumblePayload(uint16_t controller, uint16_t low_frequency,
                                   uint16_t high_frequency);

}  // namespace funkhaus::net::gamestream
