// Layout of the net state page: what funkhaus-net keeps in a sealed memfd so that a restarted net
// goes on serving every viewer. A generic header and connection slots (the kept connections and
// the output unit each may be half-way through), then one blob per protocol with its own magic
// and version (rtsp_state.h), so a protocol change bumps nobody else. Created zero-filled by
// funkhausd (which writes the header and the protocol table); written and read by the one
// funkhaus-net attached, and by its successor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "funkhaus/abi/abi.h"
#include "funkhaus/abi/message.h"

namespace funkhaus::abi {

inline constexpr uint32_t kNetStateMagic = 0x534E4846;  // "FHNS" as little-endian bytes

// Bytes of the one output unit (a response or a framed packet) per kept connection that may be
// partly written when net dies; the next net writes the rest first.
inline constexpr uint32_t kNetPendingCapacity = 16384;
inline constexpr uint32_t kMaxNetProtocols = 4;  // entries in the protocol table
inline constexpr uint32_t kNetBlobAlign = kCacheLine;

// The viewer protocols of funkhaus-net. A protocol's blob and endpoints carry its id.
enum class NetProtocol : uint32_t {
  kRtsp = 1,        // RTSP 1.0 / RTP (ffmpeg, GStreamer, mpv): rtsp_state.h
  kGamestream = 2,  // Moonlight: HTTP(S) on funkhaus-web, the stream on funkhaus-net
};
inline constexpr uint32_t kMaxNetProtocol = static_cast<uint32_t>(NetProtocol::kGamestream);

// Endpoint tags (the tag of FdRole::kEndpoint): protocol << 8 | the protocol's own index. Each
// protocol declares its endpoints with these; funkhausd opens what the enabled protocols declare.
constexpr uint32_t endpointTag(NetProtocol protocol, uint32_t index) {
  return static_cast<uint32_t>(protocol) << 8 | (index & 0xFF);
}
constexpr uint32_t endpointProtocol(uint32_t tag) { return tag >> 8; }
inline constexpr uint32_t kEndpointRtspListen = endpointTag(NetProtocol::kRtsp, 1);  // TCP listen
inline constexpr uint32_t kEndpointRtspRtp = endpointTag(NetProtocol::kRtsp, 2);     // UDP, even
inline constexpr uint32_t kEndpointRtspRtcp = endpointTag(NetProtocol::kRtsp, 3);    // UDP, RTP + 1
// GameStream (gamestream.md §1): HTTP and HTTPS go to funkhaus-web, the rest to funkhaus-net.
inline constexpr uint32_t kEndpointGamestreamHttp = endpointTag(NetProtocol::kGamestream, 1);
inline constexpr uint32_t kEndpointGamestreamHttps = endpointTag(NetProtocol::kGamestream, 2);
inline constexpr uint32_t kEndpointGamestreamRtsp = endpointTag(NetProtocol::kGamestream, 3);
inline constexpr uint32_t kEndpointGamestreamVideo = endpointTag(NetProtocol::kGamestream, 4);
inline constexpr uint32_t kEndpointGamestreamControl = endpointTag(NetProtocol::kGamestream, 5);
inline constexpr uint32_t kEndpointGamestreamAudio = endpointTag(NetProtocol::kGamestream, 6);
// The web console's HTTPS listener (funkhaus-console, WorkerKind::kConsole): no viewer protocol,
// so a high byte of its own that no NetProtocol takes.
inline constexpr uint32_t kEndpointConsoleHttps = 0xC0u << 8 | 1;

enum class ConnectionState : uint32_t {
  kFree = 0,  // unused; funkhausd keeps no socket for it
  kKept = 1,  // net deposited the connection; funkhausd keeps it for the next net
};
inline constexpr uint32_t kMaxConnectionState = static_cast<uint32_t>(ConnectionState::kKept);

// NetConnectionSlot::out_unit = stream offset << kOutUnitOffsetShift | size.
inline constexpr int kOutUnitOffsetShift = 16;
inline constexpr uint64_t kOutUnitSizeMask = (uint64_t{1} << kOutUnitOffsetShift) - 1;
static_assert(kNetPendingCapacity <= kOutUnitSizeMask, "a unit's size must fit its bits");

// One kept connection. Written only by the attached net; a restarted net validates every field.
struct NetConnectionSlot {
  uint32_t state;     // (atomic) ConnectionState, written last when a slot is taken
  uint32_t protocol;  // NetProtocol that owns the connection
  uint32_t session;   // the protocol's index of the connection (RTSP: its viewer slot)
  uint32_t reserved0;
  // --- the connection's output unit that a successor must finish first ---
  // out_data holds the unit before its first byte is written. out_unit says where it sits in the
  // connection's byte stream, in one atomic word so that it never describes a unit half-way:
  // (bytes written to the connection before the unit) << 16 | (its size). A successor learns
  // from the TCP counters how many bytes the kernel took in all (acked + still queued), so it
  // knows how much of the unit went out (0..size) and writes only the rest.
  uint64_t out_unit;  // (atomic) stream offset << 16 | size; see kOutUnit*
  uint32_t out_sent;  // bytes of the unit known written; used only without the TCP counters
  uint32_t reserved1;
  uint64_t reserved2[4];
  uint8_t out_data[kNetPendingCapacity];
};

static_assert(sizeof(NetConnectionSlot) == 64 + kNetPendingCapacity,
              "connection slot size is part of the ABI");
static_assert(sizeof(NetConnectionSlot) % kCacheLine == 0,
              "slots are whole cache lines (a slot array stays line-aligned)");
static_assert(offsetof(NetConnectionSlot, state) == 0, "state first: it says if the rest counts");
static_assert(offsetof(NetConnectionSlot, out_unit) == 16, "an 8-byte atomic must be 8-aligned");
static_assert(offsetof(NetConnectionSlot, out_data) == 64, "output unit starts a cache line");
static_assert(std::is_standard_layout_v<NetConnectionSlot>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<NetConnectionSlot>,
              "no constructor runs in shared memory: the bytes are the object");

// Where a protocol's blob is. Written by funkhausd before net starts.
struct NetProtocolEntry {
  uint32_t protocol;  // NetProtocol; 0 = unused entry
  uint32_t reserved0;
  uint64_t offset;  // of the blob from the start of the page, a multiple of kNetBlobAlign
  uint64_t size;    // bytes reserved for the blob (>= its state struct)
  uint64_t reserved1;
};

static_assert(sizeof(NetProtocolEntry) == 32, "protocol entry size is part of the ABI");
static_assert(offsetof(NetProtocolEntry, offset) == 8, "an 8-byte field must be 8-aligned");
static_assert(std::is_standard_layout_v<NetProtocolEntry> &&
                  std::is_trivially_copyable_v<NetProtocolEntry>,
              "no constructor runs in shared memory: the bytes are the object");

struct NetStatePage {
  // --- cache line 0: written once by funkhausd before net starts ---
  uint32_t magic;            // kNetStateMagic
  uint32_t abi_version;      // kAbiVersion
  uint32_t header_size;      // sizeof(NetStatePage)
  uint32_t max_connections;  // kMaxConnections (slots in `connections`)
  uint64_t total_size;       // the whole mapping: this header and every blob
  uint32_t protocol_count;   // entries used in `protocols`
  uint32_t reserved0;
  uint64_t reserved1[4];

  // --- cache line 1: written by net ---
  uint32_t net_pid;       // (atomic) pid of the attached net, 0 = none
  uint32_t attach_count;  // nets that attached so far (0: this is the first)
  uint64_t reserved2[7];

  // --- cache lines 2-3: written once by funkhausd ---
  NetProtocolEntry protocols[kMaxNetProtocols];

  NetConnectionSlot connections[kMaxConnections];
  // The protocol blobs follow, at the offsets of `protocols`.
};

static_assert(offsetof(NetStatePage, magic) == 0, "magic first, so it is checked first");
static_assert(offsetof(NetStatePage, abi_version) == 4, "version right after the magic");
static_assert(offsetof(NetStatePage, total_size) == 16, "an 8-byte field must be 8-aligned");
static_assert(offsetof(NetStatePage, net_pid) == kCacheLine,
              "net-written fields start their own cache line");
static_assert(offsetof(NetStatePage, protocols) == 2 * kCacheLine, "layout drift");
static_assert(offsetof(NetStatePage, connections) == 4 * kCacheLine, "slots start a cache line");
static_assert(sizeof(NetStatePage) == 4 * kCacheLine + kMaxConnections * sizeof(NetConnectionSlot),
              "page size is part of the ABI");
static_assert(sizeof(NetStatePage) % kNetBlobAlign == 0, "the first blob starts aligned");
static_assert(alignof(NetStatePage) == 8, "8-byte fields inside need 8-byte alignment");
static_assert(std::is_standard_layout_v<NetStatePage>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<NetStatePage>,
              "no constructor runs in shared memory: the bytes are the object");

// The first bytes of every protocol blob. Zero in a fresh page: the first net that serves the
// protocol initialises the blob; a successor checks magic, version and size before it trusts
// anything in it (and starts the protocol afresh when they differ: another build's state).
struct NetBlobHeader {
  uint32_t magic;    // the protocol's own magic
  uint32_t version;  // the protocol's own state version (not kAbiVersion)
  uint64_t size;     // sizeof the protocol's state struct
  uint64_t reserved[6];
};

static_assert(sizeof(NetBlobHeader) == kCacheLine, "blob header is one cache line");
static_assert(offsetof(NetBlobHeader, size) == 8, "an 8-byte field must be 8-aligned");
static_assert(std::is_standard_layout_v<NetBlobHeader> &&
                  std::is_trivially_copyable_v<NetBlobHeader>,
              "no constructor runs in shared memory: the bytes are the object");

constexpr uint64_t alignBlob(uint64_t size) {
  return (size + kNetBlobAlign - 1) / kNetBlobAlign * kNetBlobAlign;
}

// A blob the owner reserves: which protocol, how many bytes (sizeof its state struct).
struct NetBlobRequest {
  NetProtocol protocol;
  uint64_t size;
};

// Bytes of a page with these blobs after the header, each aligned.
constexpr uint64_t netStatePageSize(std::span<const NetBlobRequest> blobs) {
  uint64_t size = sizeof(NetStatePage);
  for (const NetBlobRequest& b : blobs) size += alignBlob(b.size);
  return size;
}

// The header of a fresh (zero-filled) page of netStatePageSize(blobs) bytes as its owner writes
// it: every connection slot free, one protocol entry per blob (at most kMaxNetProtocols), every
// blob zero (its protocol initialises it).
inline void initNetStatePage(NetStatePage& page, std::span<const NetBlobRequest> blobs) {
  page.magic = kNetStateMagic;
  page.abi_version = kAbiVersion;
  page.header_size = sizeof(NetStatePage);
  page.max_connections = kMaxConnections;
  uint64_t offset = sizeof(NetStatePage);
  uint32_t count = 0;
  for (const NetBlobRequest& b : blobs) {
    if (count == kMaxNetProtocols) break;
    page.protocols[count] = {static_cast<uint32_t>(b.protocol), 0, offset, alignBlob(b.size), 0};
    offset += alignBlob(b.size);
    ++count;
  }
  page.protocol_count = count;
  page.total_size = offset;
}

// The blob of `protocol` in a page its owner wrote (funkhausd, or a test playing it), or nullptr.
// A worker validates the header first (funkhaus-net's NetState::attach).
inline void* findNetBlob(NetStatePage& page, NetProtocol protocol) {
  for (uint32_t i = 0; i < page.protocol_count && i < kMaxNetProtocols; ++i)
    if (page.protocols[i].protocol == static_cast<uint32_t>(protocol))
      return reinterpret_cast<unsigned char*>(&page) + page.protocols[i].offset;
  return nullptr;
}

}  // namespace funkhaus::abi
