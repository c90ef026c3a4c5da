// Control-plane messages of funkhaus-vdisplay (the virtual-display driver) on SOCK_SEQPACKET.
// Sent by a host (funkhausd over the kControl socket, or a standalone client) and by the driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "funkhaus/abi/abi.h"

namespace funkhaus::abi {

// Every datagram starts with VdisplayHeader, followed by exactly one fixed-size body for its
// type (none for some requests). Requests come from the host; the driver answers each with one
// reply of type (request type | kVdisplayReplyBit) that echoes request_id and starts with a
// VdisplayStatus. The receiver of any datagram validates every field (the driver trusts no host,
// a host trusts no driver).
inline constexpr uint32_t kVdisplayMagic = 0x44564846;  // "FHVD" as little-endian bytes
// Bump on any change to a struct or enum in this file (the golden layout test in driver/test
// fails until you do). The ABI version (kAbiVersion) is carried as well: both must match.
inline constexpr uint16_t kVdisplayProtocolVersion = 1;
inline constexpr uint32_t kVdisplayMaxMessageSize = 1024;  // one datagram, header included
inline constexpr uint16_t kVdisplayReplyBit = 0x8000;

enum class VdisplayMessageType : uint16_t {
  kGetInfo = 1,        // no body; reply VdisplayInfoReply (the host checks the versions)
  kAddMonitor = 2,     // VdisplayAddMonitorRequest + exactly one frame-ring memfd in SCM_RIGHTS;
                       // reply VdisplayMonitorReply
  kRemoveMonitor = 3,  // VdisplayMonitorRequest; reply: status only
  kClearAll = 4,       // no body; removes the sender's monitors; reply VdisplayClearReply
  kPing = 5,           // VdisplayPingRequest; reply VdisplayPingReply (any request feeds the
                       // watchdog, PING is the one that does nothing else)
  kSetMode = 6,        // VdisplaySetModeRequest; reply VdisplayMonitorReply
  kGetMonitor = 7,     // VdisplayMonitorRequest; reply VdisplayMonitorReply (EDID included)
};
inline constexpr uint16_t kVdisplayMaxMessageType = 7;

struct VdisplayHeader {
  uint32_t magic;             // kVdisplayMagic
  uint16_t abi_version;       // kAbiVersion of the sender
  uint16_t protocol_version;  // kVdisplayProtocolVersion of the sender
  uint16_t type;              // VdisplayMessageType, | kVdisplayReplyBit on replies
  uint16_t reserved0;         // zero
  uint32_t length;            // bytes in the whole datagram, header included
  uint32_t request_id;        // chosen by the host, echoed by the reply
  uint32_t reserved1;         // zero
};

static_assert(sizeof(VdisplayHeader) == 24, "header size is part of the protocol");
static_assert(offsetof(VdisplayHeader, abi_version) == 4, "versions right after the magic");
static_assert(offsetof(VdisplayHeader, type) == 8, "layout drift");
static_assert(offsetof(VdisplayHeader, length) == 12, "layout drift");
static_assert(offsetof(VdisplayHeader, request_id) == 16, "layout drift");
static_assert(std::is_standard_layout_v<VdisplayHeader> &&
                  std::is_trivially_copyable_v<VdisplayHeader>,
              "messages are memcpy'd out of the received datagram");

// --- mode bounds, checked by the driver; a refused mode creates nothing ---
// Every mode must be describable by an EDID 1.4 detailed timing descriptor (12-bit active
// sizes, 16-bit pixel clock in 10 kHz units) computed with CVT reduced blanking.
inline constexpr uint32_t kVdisplayMinDimension = 320;
inline constexpr uint32_t kVdisplayMaxWidth = 4088;   // multiple of 8 (CVT cell), < 4096
inline constexpr uint32_t kVdisplayMaxHeight = 4094;  // even, < 4096
inline constexpr uint32_t kVdisplayWidthAlign = 8;    // CVT character cell
inline constexpr uint32_t kVdisplayHeightAlign = 2;
inline constexpr uint32_t kVdisplayMinRefreshMilliHz = 24'000;
inline constexpr uint32_t kVdisplayMaxRefreshMilliHz = 240'000;
inline constexpr uint64_t kVdisplayMaxPixelClockHz = 655'350'000;  // DTD: 16 bits x 10 kHz
inline constexpr uint32_t kVdisplayMaxMonitors = 16;   // hard cap of --max-monitors (ids 0..15)
inline constexpr uint32_t kVdisplayMaxEdidSize = 256;  // base block + one extension
inline constexpr uint32_t kVdisplayPathSize = 128;     // file paths in replies, NUL included

// Flags in VdisplayAddMonitorRequest::flags (and VdisplayMonitorReply::flags).
inline constexpr uint32_t kVdisplayMonitorHdr = 1u << 0;  // EDID advertises HDR (CTA-861 HDR
                                                          // static metadata, BT.2020, 10 bpc)
inline constexpr uint32_t kVdisplayMonitorFlagsKnown = kVdisplayMonitorHdr;

// Bits in VdisplayMonitorReply::mode_change.
inline constexpr uint32_t kVdisplayModeInPlace = 1u << 0;    // resized via RandR, apps survive
inline constexpr uint32_t kVdisplayModeRestarted = 1u << 1;  // X server restarted, apps lost

// Bits in VdisplayInfoReply::capabilities.
inline constexpr uint32_t kVdisplayCapHdrEdid = 1u << 0;        // HDR flag honoured in the EDID
inline constexpr uint32_t kVdisplayCapResizeInPlace = 1u << 1;  // SET_MODE within fb size keeps
                                                                // the X server (see fb_width)
inline constexpr uint32_t kVdisplayCapRandrEdid = 1u << 2;      // EDID set as RandR property
inline constexpr uint32_t kVdisplayCapXauth = 1u << 3;          // X servers need the cookie in the
                                                                // reply's xauthority file

enum class VdisplayStatusCode : uint32_t {
  kOk = 0,
  kBadMessage = 1,       // malformed datagram: header, size, reserved field, flags, fds
  kVersionMismatch = 2,  // ABI or protocol version differs from the driver's
  kBadMode = 3,          // width, height, refresh or framebuffer out of bounds
  kTooManyMonitors = 4,  // --max-monitors reached
  kBadRing = 5,          // the fd is not a sealed memfd frame ring, or it has another producer
  kRingTooSmall = 6,     // a ring slot cannot hold a frame of the mode
  kUnknownMonitor = 7,   // no such monitor id
  kNotOwner = 8,         // the monitor belongs to another host connection
  kBackendFailed = 9,    // the X server could not be started or configured
};
inline constexpr uint32_t kVdisplayMaxStatusCode = 9;

inline constexpr uint32_t kVdisplayMessageTextSize = 240;

// First part of every reply body.
struct VdisplayStatus {
  uint32_t code;  // VdisplayStatusCode
  uint32_t reserved;
  char message[kVdisplayMessageTextSize];  // NUL-terminated, NUL-padded; empty on kOk
};

static_assert(sizeof(VdisplayStatus) == 248, "status size is part of the protocol");
static_assert(std::is_standard_layout_v<VdisplayStatus> &&
                  std::is_trivially_copyable_v<VdisplayStatus>,
              "messages are memcpy'd out of the received datagram");

// GET_INFO reply (after VdisplayStatus).
struct VdisplayInfoReply {
  uint32_t driver_version;    // major << 16 | minor << 8 | patch
  uint32_t abi_version;       // kAbiVersion the driver was built with
  uint32_t protocol_version;  // kVdisplayProtocolVersion the driver was built with
  uint32_t max_monitors;      // --max-monitors
  uint32_t watchdog_ms;       // a host silent this long loses its monitors
  uint32_t capabilities;      // kVdisplayCap*
  uint32_t max_width;         // the bounds above, as this driver applies them
  uint32_t max_height;
  uint32_t min_refresh_millihz;
  uint32_t max_refresh_millihz;
  char backend[16];  // NUL-terminated, e.g. "xvfb"
  uint32_t reserved[2];
};

static_assert(sizeof(VdisplayInfoReply) == 64, "info reply size is part of the protocol");
static_assert(offsetof(VdisplayInfoReply, backend) == 40, "layout drift");

// ADD_MONITOR request.
struct VdisplayAddMonitorRequest {
  uint32_t width;  // pixels, see the bounds above
  uint32_t height;
  uint32_t refresh_millihz;  // frames per second x 1000 published into the ring
  uint32_t flags;            // kVdisplayMonitor*
  // Framebuffer reserved for later SET_MODEs in place (RandR can shrink the X screen below its
  // framebuffer, never grow past it); 0 = the mode's size. Same bounds as the mode, >= it.
  uint32_t fb_width;
  uint32_t fb_height;
  uint32_t reserved[2];
};

static_assert(sizeof(VdisplayAddMonitorRequest) == 32, "request size is part of the protocol");
static_assert(offsetof(VdisplayAddMonitorRequest, fb_width) == 16, "layout drift");

// REMOVE_MONITOR and GET_MONITOR request.
struct VdisplayMonitorRequest {
  uint32_t monitor_id;
  uint32_t reserved;
};

static_assert(sizeof(VdisplayMonitorRequest) == 8, "request size is part of the protocol");

// SET_MODE request. The monitor keeps its flags; the host's ring must hold the new mode.
struct VdisplaySetModeRequest {
  uint32_t monitor_id;
  uint32_t width;
  uint32_t height;
  uint32_t refresh_millihz;
};

static_assert(sizeof(VdisplaySetModeRequest) == 16, "request size is part of the protocol");

struct VdisplayPingRequest {
  uint64_t nonce;  // echoed
};

static_assert(sizeof(VdisplayPingRequest) == 8, "request size is part of the protocol");

// ADD_MONITOR, SET_MODE and GET_MONITOR reply (after VdisplayStatus); all zero on refusal.
struct VdisplayMonitorReply {
  uint32_t monitor_id;
  uint32_t display_number;  // the X display ":N" the session's apps use
  uint32_t generation;      // frame-ring generation the monitor's frames carry now
  uint32_t width;
  uint32_t height;
  uint32_t refresh_millihz;
  uint32_t flags;        // kVdisplayMonitor*
  uint32_t mode_change;  // SET_MODE: kVdisplayMode*; else 0
  uint32_t fb_width;     // framebuffer of the X server: SET_MODE up to this size is in place
  uint32_t fb_height;
  uint32_t edid_size;  // 128 or 256
  uint32_t reserved;
  char display_name[16];  // NUL-terminated ":N"
  uint8_t edid[kVdisplayMaxEdidSize];
  // NUL-terminated path of the Xauthority file the session's clients need (XAUTHORITY=path)
  // to connect to the display; empty if the X server takes anyone (no kVdisplayCapXauth).
  char xauthority[kVdisplayPathSize];
};

static_assert(sizeof(VdisplayMonitorReply) == 448, "reply size is part of the protocol");
static_assert(offsetof(VdisplayMonitorReply, display_name) == 48, "layout drift");
static_assert(offsetof(VdisplayMonitorReply, edid) == 64, "layout drift");
static_assert(offsetof(VdisplayMonitorReply, xauthority) == 320, "layout drift");

struct VdisplayPingReply {
  uint64_t nonce;        // the request's
  uint32_t monitors;     // monitors this host owns
  uint32_t watchdog_ms;  // time left is reset by this ping
};

static_assert(sizeof(VdisplayPingReply) == 16, "reply size is part of the protocol");

struct VdisplayClearReply {
  uint32_t removed;  // monitors of the sender that were removed
  uint32_t reserved;
};

static_assert(sizeof(VdisplayClearReply) == 8, "reply size is part of the protocol");

// Largest datagram: header + status + monitor reply.
static_assert(sizeof(VdisplayHeader) + sizeof(VdisplayStatus) + sizeof(VdisplayMonitorReply) <=
                  kVdisplayMaxMessageSize,
              "every message fits one datagram");

}  // namespace funkhaus::abi
