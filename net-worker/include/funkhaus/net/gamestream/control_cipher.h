// AES-128-GCM sealing of GameStream control messages (gamestream.md §5.2) and the replay window
// over the client's sequence numbers. funkhaus-net's control stream, on its event loop thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "funkhaus/abi/gamestream_control.h"
#include "funkhaus/common/result.h"

namespace funkhaus::net::gamestream {

using ControlKey = std::array<uint8_t, 16>;           // rikey from /launch
using ControlKeyView = std::span<const uint8_t, 16>;  // a ControlKey or a uint8_t[16]

// V2 (host advertised encryptionSupported 0x01, client enabled it): 12-byte IV = LE32 seq, six
// zeros, 'C' (client -> host) or 'H' (host -> client), 'C'. Legacy: 16-byte IV, all zero but
// byte 0 = seq & 0xFF, the same in both directions.
enum class ControlIvMode { kV2, kLegacy };
enum class ControlDirection { kClientToHost, kHostToClient };

inline constexpr uint16_t kEncryptedControlHeaderType = 0x0001;
inline constexpr size_t kControlTagSize = 16;
// LE16 0x0001, LE16 length, LE32 seq, 16-byte tag, then the sealed LE16 type and LE16 length.
inline constexpr size_t kControlOverhead = 2 + 2 + 4 + kControlTagSize + 4;
// The largest payload one ENet packet of ours carries once sealed.
inline constexpr size_t kMaxControlPayload = 0xFFFF - kControlOverhead;

struct ControlMessage {
  uint16_t type = 0;
  std::vector<uint8_t> payload;
};

// Why decryptControl() dropped a message (also counted in GsControlCipherState).
enum class ControlDropReason {
  kNone,
  kTruncated,     // shorter than its header, or than its length field says
  kNotEncrypted,  // header type is not 0x0001 (an unencrypted message on an encrypted stream)
  kWrongLength,   // length field too small for seq + tag + inner header, or bytes after the end
  kBadTag,        // authentication failed (wrong key, IV mode or tampered bytes)
  kReplayed,      // sequence number already accepted, or older than the replay window
  kInnerLength,   // the sealed LE16 length disagrees with the bytes
};
const char* toString(ControlDropReason reason);

// The IV of message `seq` (12 bytes in V2, 16 in legacy).
std::vector<uint8_t> controlIv(uint32_t seq, ControlIvMode mode, ControlDirection direction);

// Seals one message: the ENet packet payload. `payload` is at most kMaxControlPayload bytes
// (larger is a broken invariant: abort).
std::vector<uint8_t> encryptControl(ControlKeyView key, uint32_t seq, uint16_t type,
                                    std::span<const uint8_t> payload,
                                    ControlIvMode mode = ControlIvMode::kV2,
                                    ControlDirection direction = ControlDirection::kHostToClient);

// Opens one ENet packet from the client; on success records its sequence number in `state`'s
// replay window. Every drop is counted in `state` and named in the error (and in *reason).
Result<ControlMessage> decryptControl(ControlKeyView key, std::span<const uint8_t> bytes,
                                      abi::GsControlCipherState& state,
                                      ControlIvMode mode = ControlIvMode::kV2,
                                      ControlDropReason* reason = nullptr,
                                      ControlDirection direction = ControlDirection::kClientToHost);

// The same on the control stream's shared state: seals host -> client with the state's next
// outgoing sequence number (and advances it); opens a client message against its replay window.
std::vector<uint8_t> encryptControl(ControlKeyView key, abi::GsEnetState& state, uint16_t type,
                                    std::span<const uint8_t> payload,
                                    ControlIvMode mode = ControlIvMode::kV2);
Result<ControlMessage> decryptControl(ControlKeyView key, abi::GsEnetState& state,
                                      std::span<const uint8_t> bytes,
                                      ControlIvMode mode = ControlIvMode::kV2,
                                      ControlDropReason* reason = nullptr);

// The two directions of one stream on its shared-memory state.
class ControlCipher {
 public:
  ControlCipher(const ControlKey& key, abi::GsControlCipherState& state, ControlIvMode mode)
      : key_(key), state_(state), mode_(mode) {}

  // Seals with the next outgoing sequence number (and advances it).
  std::vector<uint8_t> seal(uint16_t type, std::span<const uint8_t> payload);
  Result<ControlMessage> open(std::span<const uint8_t> bytes, ControlDropReason* reason = nullptr);

 private:
  ControlKey key_;
  abi::GsControlCipherState& state_;
  ControlIvMode mode_;
};

}  // namespace funkhaus::net::gamestream
