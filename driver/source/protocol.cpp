// vdisplay control protocol: request/reply parsing with full validation, encoding, mode bounds.
#include "funkhaus/vdisplay/protocol.h"

#include <algorithm>
#include <cstring>

#include "funkhaus/vdisplay/edid.h"

namespace funkhaus::vdisplay {
namespace {

using abi::VdisplayHeader;

template <class T>
void append(std::vector<std::byte>& out, const T& value) {
  const auto* p = reinterpret_cast<const std::byte*>(&value);
  out.insert(out.end(), p, p + sizeof value);
}

bool knownType(uint16_t type) { return type >= 1 && type <= abi::kVdisplayMaxMessageType; }

// Sizes of the request body and reply body (after the status) of each type.
size_t requestBodySize(VdisplayMessageType type) {
  switch (type) {
    case VdisplayMessageType::kAddMonitor:
      return sizeof(abi::VdisplayAddMonitorRequest);
    case VdisplayMessageType::kRemoveMonitor:
    case VdisplayMessageType::kGetMonitor:
      return sizeof(abi::VdisplayMonitorRequest);
    case VdisplayMessageType::kSetMode:
      return sizeof(abi::VdisplaySetModeRequest);
    case VdisplayMessageType::kPing:
      return sizeof(abi::VdisplayPingRequest);
    case VdisplayMessageType::kGetInfo:
    case VdisplayMessageType::kClearAll:
      return 0;
  }
  return 0;
}

size_t replyBodySize(size_t index) {
  switch (index) {
    case 1:
      return sizeof(abi::VdisplayInfoReply);
    case 2:
      return sizeof(abi::VdisplayMonitorReply);
    case 3:
      return sizeof(abi::VdisplayPingReply);
    case 4:
      return sizeof(abi::VdisplayClearReply);
  }
  return 0;
}

// A NUL-terminated string inside a fixed char array, all bytes after the NUL zero.
bool validText(const char* text, size_t size) {
  const char* end = static_cast<const char*>(std::memchr(text, '\0', size));
  if (end == nullptr) return false;
  for (const char* p = end; p < text + size; ++p)
    if (*p != '\0') return false;
  for (const char* p = text; p < end; ++p)
    if (static_cast<unsigned char>(*p) < 0x20 || *p == 0x7f) return false;
  return true;
}

ParseError bad(std::string message) {
  return ParseError{VdisplayStatusCode::kBadMessage, std::move(message)};
}

}  // namespace

std::optional<HeaderPeek> peekHeader(std::span<const std::byte> datagram) {
  if (datagram.size() < sizeof(VdisplayHeader)) return std::nullopt;
  VdisplayHeader h;
  std::memcpy(&h, datagram.data(), sizeof h);
  return HeaderPeek{h.type, h.request_id};
}

std::variant<Request, ParseError> parseRequest(std::span<const std::byte> datagram,
                                               std::vector<UniqueFd> fds) {
  if (datagram.size() < sizeof(VdisplayHeader))
    return bad(fmt::format("message of {} bytes is shorter than its {}-byte header",
                           datagram.size(), sizeof(VdisplayHeader)));
  if (datagram.size() > abi::kVdisplayMaxMessageSize)
    return bad(fmt::format("message of {} bytes exceeds {}", datagram.size(),
                           abi::kVdisplayMaxMessageSize));
  VdisplayHeader h;
  std::memcpy(&h, datagram.data(), sizeof h);
  if (h.magic != abi::kVdisplayMagic)
    return bad(fmt::format("bad magic 0x{:08x} (expected 0x{:08x})", h.magic, abi::kVdisplayMagic));
  if (h.abi_version != abi::kAbiVersion || h.protocol_version != abi::kVdisplayProtocolVersion)
    return ParseError{
        VdisplayStatusCode::kVersionMismatch,
        fmt::format("host speaks ABI {} protocol {}, driver speaks ABI {} protocol {}",
                    h.abi_version, h.protocol_version, abi::kAbiVersion,
                    abi::kVdisplayProtocolVersion)};
  if (h.length != datagram.size())
    return bad(fmt::format("header says {} bytes, datagram has {}", h.length, datagram.size()));
  if (h.reserved0 != 0 || h.reserved1 != 0) return bad("header has non-zero reserved fields");
  if ((h.type & abi::kVdisplayReplyBit) != 0)
    return bad(fmt::format("message type 0x{:04x} is a reply, not a request", h.type));
  if (!knownType(h.type)) return bad(fmt::format("unknown message type {}", h.type));
  const auto type = static_cast<VdisplayMessageType>(h.type);
  const auto payload = datagram.subspan(sizeof h);
  const size_t want = requestBodySize(type);
  if (payload.size() != want)
    return bad(
        fmt::format("{} body is {} bytes, expected {}", toString(type), payload.size(), want));
  const size_t want_fds = type == VdisplayMessageType::kAddMonitor ? 1 : 0;
  if (fds.size() != want_fds)
    return bad(fmt::format("{} must carry {} fd{}, {} came", toString(type), want_fds,
                           want_fds == 1 ? " (the frame-ring memfd)" : "s", fds.size()));

  Request r;
  r.type = type;
  r.request_id = h.request_id;
  switch (type) {
    case VdisplayMessageType::kAddMonitor: {
      abi::VdisplayAddMonitorRequest b;
      std::memcpy(&b, payload.data(), sizeof b);
      if (b.reserved[0] != 0 || b.reserved[1] != 0)
        return bad("ADD_MONITOR has non-zero reserved fields");
      if ((b.flags & ~abi::kVdisplayMonitorFlagsKnown) != 0)
        return bad(fmt::format("ADD_MONITOR has unknown flags 0x{:x}",
                               b.flags & ~abi::kVdisplayMonitorFlagsKnown));
      r.body = b;
      r.ring = std::move(fds[0]);
      break;
    }
    case VdisplayMessageType::kRemoveMonitor:
    case VdisplayMessageType::kGetMonitor: {
      abi::VdisplayMonitorRequest b;
      std::memcpy(&b, payload.data(), sizeof b);
      if (b.reserved != 0)
        return bad(fmt::format("{} has a non-zero reserved field", toString(type)));
      r.body = b;
      break;
    }
    case VdisplayMessageType::kSetMode: {
      abi::VdisplaySetModeRequest b;
      std::memcpy(&b, payload.data(), sizeof b);
      r.body = b;
      break;
    }
    case VdisplayMessageType::kPing: {
      abi::VdisplayPingRequest b;
      std::memcpy(&b, payload.data(), sizeof b);
      r.body = b;
      break;
    }
    case VdisplayMessageType::kGetInfo:
    case VdisplayMessageType::kClearAll:
      break;
  }
  return r;
}

std::vector<std::byte> encodeRequest(const Request& request) {
  std::vector<std::byte> out(sizeof(VdisplayHeader));
  std::visit(
      [&](const auto& b) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>) append(out, b);
      },
      request.body);
  VdisplayHeader h{};
  h.magic = abi::kVdisplayMagic;
  h.abi_version = static_cast<uint16_t>(abi::kAbiVersion);
  h.protocol_version = abi::kVdisplayProtocolVersion;
  h.type = static_cast<uint16_t>(request.type);
  h.length = static_cast<uint32_t>(out.size());
  h.request_id = request.request_id;
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

size_t replyBodyIndex(VdisplayMessageType type) {
  switch (type) {
    case VdisplayMessageType::kGetInfo:
      return 1;
    case VdisplayMessageType::kAddMonitor:
    case VdisplayMessageType::kSetMode:
    case VdisplayMessageType::kGetMonitor:
      return 2;
    case VdisplayMessageType::kPing:
      return 3;
    case VdisplayMessageType::kClearAll:
      return 4;
    case VdisplayMessageType::kRemoveMonitor:
      return 0;
  }
  return 0;
}

Result<Reply> parseReply(std::span<const std::byte> datagram, size_t fd_count) {
  if (fd_count != 0) return makeError("driver reply carried {} fds", fd_count);
  if (datagram.size() < sizeof(VdisplayHeader) + sizeof(abi::VdisplayStatus))
    return makeError("driver reply of {} bytes is too short", datagram.size());
  if (datagram.size() > abi::kVdisplayMaxMessageSize)
    return makeError("driver reply of {} bytes exceeds {}", datagram.size(),
                     abi::kVdisplayMaxMessageSize);
  VdisplayHeader h;
  std::memcpy(&h, datagram.data(), sizeof h);
  if (h.magic != abi::kVdisplayMagic)
    return makeError("driver reply has bad magic 0x{:08x}", h.magic);
  if (h.length != datagram.size())
    return makeError("driver reply header says {} bytes, datagram has {}", h.length,
                     datagram.size());
  if (h.reserved0 != 0 || h.reserved1 != 0)
    return makeError("driver reply header has non-zero reserved fields");
  if ((h.type & abi::kVdisplayReplyBit) == 0)
    return makeError("driver sent type 0x{:04x}, which is not a reply", h.type);
  abi::VdisplayStatus status;
  std::memcpy(&status, datagram.data() + sizeof h, sizeof status);
  if (status.code > abi::kVdisplayMaxStatusCode || status.reserved != 0)
    return makeError("driver reply has unknown status {}", status.code);
  if (!validText(status.message, sizeof status.message))
    return makeError("driver reply text is not a terminated printable string");
  Reply r;
  r.request_id = h.request_id;
  r.abi_version = h.abi_version;
  r.protocol_version = h.protocol_version;
  r.code = static_cast<VdisplayStatusCode>(status.code);
  r.message = status.message;
  const uint16_t raw_type = h.type & ~abi::kVdisplayReplyBit;
  const auto body = datagram.subspan(sizeof h + sizeof status);
  // A refusal of a request the driver could not identify has type 0 and no body.
  if (raw_type == 0) {
    if (r.ok() || !body.empty()) return makeError("driver reply of type 0 is not a bare refusal");
    r.type = VdisplayMessageType{0};
    return r;
  }
  // Versions are only checked on success: a version refusal is how a driver tells us its own.
  if (h.abi_version != abi::kAbiVersion || h.protocol_version != abi::kVdisplayProtocolVersion) {
    if (r.ok())
      return makeError("driver speaks ABI {} protocol {}, this host ABI {} protocol {}",
                       h.abi_version, h.protocol_version, abi::kAbiVersion,
                       abi::kVdisplayProtocolVersion);
  }
  if (!knownType(raw_type)) return makeError("driver reply has unknown type {}", raw_type);
  r.type = static_cast<VdisplayMessageType>(raw_type);
  const size_t index = replyBodyIndex(r.type);
  const size_t want = replyBodySize(index);
  if (body.size() != want)
    return makeError("driver {} reply body is {} bytes, expected {}", toString(r.type), body.size(),
                     want);
  switch (index) {
    case 1: {
      abi::VdisplayInfoReply b;
      std::memcpy(&b, body.data(), sizeof b);
      if (!validText(b.backend, sizeof b.backend))
        return makeError("driver info names no terminated backend");
      r.body = b;
      break;
    }
    case 2: {
      abi::VdisplayMonitorReply b;
      std::memcpy(&b, body.data(), sizeof b);
      if (!validText(b.display_name, sizeof b.display_name))
        return makeError("driver monitor reply has no terminated display name");
      if (!validText(b.xauthority, sizeof b.xauthority))
        return makeError("driver monitor reply has no terminated Xauthority path");
      if (r.ok() && b.edid_size != 128 && b.edid_size != 256)
        return makeError("driver monitor reply has EDID size {}", b.edid_size);
      r.body = b;
      break;
    }
    case 3: {
      abi::VdisplayPingReply b;
      std::memcpy(&b, body.data(), sizeof b);
      r.body = b;
      break;
    }
    case 4: {
      abi::VdisplayClearReply b;
      std::memcpy(&b, body.data(), sizeof b);
      r.body = b;
      break;
    }
  }
  return r;
}

std::vector<std::byte> encodeReply(const Reply& reply) {
  std::vector<std::byte> out(sizeof(VdisplayHeader));
  abi::VdisplayStatus status{};
  status.code = static_cast<uint32_t>(reply.code);
  // Printable only, truncated to fit with its NUL: the host shows it to people.
  size_t n = 0;
  for (char c : reply.message) {
    if (n + 1 >= sizeof status.message) break;
    status.message[n++] = (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  append(out, status);
  const uint16_t raw_type = static_cast<uint16_t>(reply.type);
  if (raw_type != 0) {
    // Every reply of a known type carries its full body, zeroed on refusal.
    const size_t index = replyBodyIndex(reply.type);
    const size_t size = replyBodySize(index);
    if (reply.body.index() == index && index != 0) {
      std::visit(
          [&](const auto& b) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, std::monostate>)
              append(out, b);
          },
          reply.body);
    } else {
      out.resize(out.size() + size, std::byte{0});
    }
  }
  VdisplayHeader h{};
  h.magic = abi::kVdisplayMagic;
  h.abi_version = reply.abi_version;
  h.protocol_version = reply.protocol_version;
  h.type = static_cast<uint16_t>(raw_type | abi::kVdisplayReplyBit);
  h.length = static_cast<uint32_t>(out.size());
  h.request_id = reply.request_id;
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

Reply refusal(uint16_t type, uint32_t request_id, VdisplayStatusCode code, std::string message) {
  Reply r;
  // A request we cannot identify is answered with type 0 (no body).
  r.type = knownType(type) ? static_cast<VdisplayMessageType>(type) : VdisplayMessageType{0};
  r.request_id = request_id;
  r.code = code;
  r.message = std::move(message);
  return r;
}

const char* toString(VdisplayMessageType type) {
  switch (type) {
    case VdisplayMessageType::kGetInfo:
      return "GET_INFO";
    case VdisplayMessageType::kAddMonitor:
      return "ADD_MONITOR";
    case VdisplayMessageType::kRemoveMonitor:
      return "REMOVE_MONITOR";
    case VdisplayMessageType::kClearAll:
      return "CLEAR_ALL";
    case VdisplayMessageType::kPing:
      return "PING";
    case VdisplayMessageType::kSetMode:
      return "SET_MODE";
    case VdisplayMessageType::kGetMonitor:
      return "GET_MONITOR";
  }
  return "UNKNOWN";
}

const char* toString(VdisplayStatusCode code) {
  switch (code) {
    case VdisplayStatusCode::kOk:
      return "ok";
    case VdisplayStatusCode::kBadMessage:
      return "bad-message";
    case VdisplayStatusCode::kVersionMismatch:
      return "version-mismatch";
    case VdisplayStatusCode::kBadMode:
      return "bad-mode";
    case VdisplayStatusCode::kTooManyMonitors:
      return "too-many-monitors";
    case VdisplayStatusCode::kBadRing:
      return "bad-ring";
    case VdisplayStatusCode::kRingTooSmall:
      return "ring-too-small";
    case VdisplayStatusCode::kUnknownMonitor:
      return "unknown-monitor";
    case VdisplayStatusCode::kNotOwner:
      return "not-owner";
    case VdisplayStatusCode::kBackendFailed:
      return "backend-failed";
  }
  return "unknown-status";
}

Result<void> validateMode(const Mode& m) {
  if (m.width < abi::kVdisplayMinDimension || m.width > abi::kVdisplayMaxWidth)
    return makeError("width {} is out of range ({}..{})", m.width, abi::kVdisplayMinDimension,
                     abi::kVdisplayMaxWidth);
  if (m.height < abi::kVdisplayMinDimension || m.height > abi::kVdisplayMaxHeight)
    return makeError("height {} is out of range ({}..{})", m.height, abi::kVdisplayMinDimension,
                     abi::kVdisplayMaxHeight);
  if (m.width % abi::kVdisplayWidthAlign != 0)
    return makeError("width {} is not a multiple of {} (the CVT character cell)", m.width,
                     abi::kVdisplayWidthAlign);
  if (m.height % abi::kVdisplayHeightAlign != 0)
    return makeError("height {} is odd; it must be even", m.height);
  if (m.refresh_millihz < abi::kVdisplayMinRefreshMilliHz ||
      m.refresh_millihz > abi::kVdisplayMaxRefreshMilliHz)
    return makeError("refresh {} mHz is out of range ({}..{} mHz)", m.refresh_millihz,
                     abi::kVdisplayMinRefreshMilliHz, abi::kVdisplayMaxRefreshMilliHz);
  auto timing = cvtReducedBlanking(m.width, m.height, m.refresh_millihz);
  if (!timing) return timing.error();
  if (timing->pixel_clock_hz > abi::kVdisplayMaxPixelClockHz)
    return makeError(
        "{}x{} at {}.{:03} Hz needs a {:.2f} MHz pixel clock; an EDID detailed timing holds at "
        "most {:.2f} MHz",
        m.width, m.height, m.refresh_millihz / 1000, m.refresh_millihz % 1000,
        static_cast<double>(timing->pixel_clock_hz) / 1e6,
        static_cast<double>(abi::kVdisplayMaxPixelClockHz) / 1e6);
  return {};
}

Result<void> validateFramebuffer(uint32_t fb_width, uint32_t fb_height, const Mode& mode) {
  if (fb_width == 0 && fb_height == 0) return {};
  const uint32_t w = fb_width == 0 ? mode.width : fb_width;
  const uint32_t h = fb_height == 0 ? mode.height : fb_height;
  if (w < mode.width || h < mode.height)
    return makeError("framebuffer {}x{} is smaller than the mode {}x{}", w, h, mode.width,
                     mode.height);
  if (w > abi::kVdisplayMaxWidth || h > abi::kVdisplayMaxHeight)
    return makeError("framebuffer {}x{} exceeds {}x{}", w, h, abi::kVdisplayMaxWidth,
                     abi::kVdisplayMaxHeight);
  if (w % abi::kVdisplayWidthAlign != 0 || h % abi::kVdisplayHeightAlign != 0)
    return makeError("framebuffer {}x{}: width must be a multiple of {}, height even", w, h,
                     abi::kVdisplayWidthAlign);
  return {};
}

uint64_t bgraFrameBytes(uint32_t width, uint32_t height) {
  return uint64_t{width} * 4 * uint64_t{height};
}

}  // namespace funkhaus::vdisplay
