// Fuzz target: a datagram on the vdisplay control socket. The first byte picks the direction
// (even: a host's request to the driver, odd: a driver's reply to a host) and how many fds came
// with it. Any input parses or is refused with a reason; a valid request re-encodes to the same
// bytes, and its mode (ADD_MONITOR, SET_MODE) goes through the driver's mode and framebuffer
// checks as the driver does after parsing (driver.cpp), with the names it logs.
// fuzz-parser: driver/source/protocol.cpp
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "funkhaus/vdisplay/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus;
  using namespace funkhaus::vdisplay;
  if (size == 0) return 0;
  const bool reply = (data[0] & 1) != 0;
  const size_t fd_count = (data[0] >> 1) % 3;
  const std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  if (reply) {
    auto r = parseReply(datagram, fd_count);
    if (r && r->message.size() >= abi::kVdisplayMessageTextSize) __builtin_trap();
    // A host logs a reply by its names (type 0 answers a request the driver could not read).
    if (r && (std::strlen(toString(r->type)) == 0 || std::strlen(toString(r->code)) == 0))
      __builtin_trap();
    return 0;
  }
  std::vector<UniqueFd> fds;
  for (size_t i = 0; i < fd_count; ++i) fds.emplace_back(memfd_create("fuzz", MFD_CLOEXEC));
  auto parsed = parseRequest(datagram, std::move(fds));
  if (auto* error = std::get_if<ParseError>(&parsed)) {
    if (error->message.empty() || error->code == VdisplayStatusCode::kOk) __builtin_trap();
    if (std::strcmp(toString(error->code), "unknown-status") == 0) __builtin_trap();
    // The refusal must itself encode into a reply a host accepts.
    const auto peek = peekHeader(datagram);
    const auto bytes = encodeReply(
        refusal(peek ? peek->type : 0, peek ? peek->request_id : 0, error->code, error->message));
    if (!parseReply(bytes, 0)) __builtin_trap();
    return 0;
  }
  const auto& request = std::get<Request>(parsed);
  if ((request.type == abi::VdisplayMessageType::kAddMonitor) != request.ring.valid())
    __builtin_trap();
  if (std::strcmp(toString(request.type), "UNKNOWN") == 0) __builtin_trap();
  if (const auto* add = std::get_if<abi::VdisplayAddMonitorRequest>(&request.body)) {
    const Mode mode{add->width, add->height, add->refresh_millihz};
    if (validateMode(mode) && validateFramebuffer(add->fb_width, add->fb_height, mode) &&
        bgraFrameBytes(mode.width, mode.height) >
            uint64_t{abi::kVdisplayMaxWidth} * 4 * abi::kVdisplayMaxHeight)
      __builtin_trap();
  } else if (const auto* set = std::get_if<abi::VdisplaySetModeRequest>(&request.body)) {
    const Mode mode{set->width, set->height, set->refresh_millihz};
    if (validateMode(mode) && (mode.width % abi::kVdisplayWidthAlign != 0 || mode.height % 2 != 0))
      __builtin_trap();
  }
  const auto again = encodeRequest(request);
  if (again.size() != datagram.size() ||
      std::memcmp(again.data(), datagram.data(), again.size()) != 0)
    __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus;
  using namespace funkhaus::vdisplay;
  std::vector<std::vector<uint8_t>> out;
  auto add = [&](uint8_t first, const std::vector<std::byte>& bytes) {
    std::vector<uint8_t> v{first};
    for (std::byte b : bytes) v.push_back(static_cast<uint8_t>(b));
    out.push_back(v);
  };
  Request r;
  r.type = abi::VdisplayMessageType::kAddMonitor;
  r.request_id = 1;
  r.body = abi::VdisplayAddMonitorRequest{1920, 1080, 60000, abi::kVdisplayMonitorHdr, 0, 0, {}};
  add(2, encodeRequest(r));  // one fd
  r.type = abi::VdisplayMessageType::kSetMode;
  r.body = abi::VdisplaySetModeRequest{0, 1280, 720, 144000};
  add(0, encodeRequest(r));
  r.type = abi::VdisplayMessageType::kPing;
  r.body = abi::VdisplayPingRequest{77};
  add(0, encodeRequest(r));
  r.type = abi::VdisplayMessageType::kRemoveMonitor;
  r.body = abi::VdisplayMonitorRequest{3, 0};
  add(0, encodeRequest(r));
  r.type = abi::VdisplayMessageType::kGetInfo;
  r.body = std::monostate{};
  add(0, encodeRequest(r));

  Reply monitor;
  monitor.type = abi::VdisplayMessageType::kAddMonitor;
  abi::VdisplayMonitorReply m{};
  m.edid_size = 128;
  std::strcpy(m.display_name, ":5");
  monitor.body = m;
  add(1, encodeReply(monitor));
  Reply info;
  info.type = abi::VdisplayMessageType::kGetInfo;
  abi::VdisplayInfoReply i{};
  std::strcpy(i.backend, "xvfb");
  info.body = i;
  add(1, encodeReply(info));
  add(1, encodeReply(refusal(2, 9, abi::VdisplayStatusCode::kBadMode, "width 0 is out of range")));
  // The refusals only the driver's state gives (not a parse): monitors, rings, owners, backend.
  for (uint32_t code = 4; code <= abi::kVdisplayMaxStatusCode; ++code)
    add(1, encodeReply(refusal(1, 10 + code, static_cast<abi::VdisplayStatusCode>(code), "no")));
  return out;
}
