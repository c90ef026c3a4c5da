// The vdisplay control protocol in C++ terms: validated parsing and encoding of the datagrams of
// abi/vdisplay.h, and the mode bounds. Used by the driver (requests in, replies out) and by hosts.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "funkhaus/abi/vdisplay.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::vdisplay {

using abi::VdisplayMessageType;
using abi::VdisplayStatusCode;

struct Request {
  VdisplayMessageType type = VdisplayMessageType::kPing;
  uint32_t request_id = 0;
  std::variant<std::monostate, abi::VdisplayAddMonitorRequest, abi::VdisplayMonitorRequest,
               abi::VdisplaySetModeRequest, abi::VdisplayPingRequest>
      body;
  UniqueFd ring;  // kAddMonitor: the frame-ring memfd
};

struct Reply {
  VdisplayMessageType type = VdisplayMessageType::kPing;  // 0: refusal of an unknown request
  uint32_t request_id = 0;
  // The sender's versions (a version refusal tells the host which ones the driver speaks).
  uint16_t abi_version = static_cast<uint16_t>(abi::kAbiVersion);
  uint16_t protocol_version = abi::kVdisplayProtocolVersion;
  VdisplayStatusCode code = VdisplayStatusCode::kOk;
  std::string message;  // empty on kOk
  std::variant<std::monostate, abi::VdisplayInfoReply, abi::VdisplayMonitorReply,
               abi::VdisplayPingReply, abi::VdisplayClearReply>
      body;

  bool ok() const { return code == VdisplayStatusCode::kOk; }
};

// What the receiver could read of a datagram's header, so that even a refused request gets a
// reply with its request id. Empty when the datagram is shorter than a header.
struct HeaderPeek {
  uint16_t type = 0;
  uint32_t request_id = 0;
};
std::optional<HeaderPeek> peekHeader(std::span<const std::byte> datagram);

// A refusal of a request the driver could not parse: its status code and text.
struct ParseError {
  VdisplayStatusCode code;
  std::string message;
};

// Driver side: checks magic, versions, length, reserved fields, type (a request, known), exact
// body size, known flags, and fds (exactly one on ADD_MONITOR, none elsewhere). Takes ownership
// of `fds` (closed on error). Mode bounds are checked separately (validateMode), because the
// driver applies its own limits.
std::variant<Request, ParseError> parseRequest(std::span<const std::byte> datagram,
                                               std::vector<UniqueFd> fds);
std::vector<std::byte> encodeRequest(const Request& request);

// Host side: the same checks on a reply, plus NUL-terminated text fields and sizes in range.
Result<Reply> parseReply(std::span<const std::byte> datagram, size_t fd_count);
std::vector<std::byte> encodeReply(const Reply& reply);

// A refusal reply to a request of `type` (raw, may be unknown) and `request_id`.
Reply refusal(uint16_t type, uint32_t request_id, VdisplayStatusCode code, std::string message);

// Body type a reply of `type` carries after its status (monostate index 0 = none).
size_t replyBodyIndex(VdisplayMessageType type);

const char* toString(VdisplayMessageType type);
const char* toString(VdisplayStatusCode code);

// --- mode bounds (abi/vdisplay.h) ---
struct Mode {
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t refresh_millihz = 0;
  friend bool operator==(const Mode&, const Mode&) = default;
};

// Width, height and refresh in bounds, width a multiple of 8 and height even, and the CVT
// reduced-blanking timing describable by an EDID detailed timing. The error names the value.
Result<void> validateMode(const Mode& mode);
// A framebuffer (ADD_MONITOR fb_width/fb_height, 0 = the mode's) that holds the mode.
Result<void> validateFramebuffer(uint32_t fb_width, uint32_t fb_height, const Mode& mode);

// Bytes of one BGRA frame of the mode as the driver publishes it (stride = width * 4).
uint64_t bgraFrameBytes(uint32_t width, uint32_t height);

}  // namespace funkhaus::vdisplay
