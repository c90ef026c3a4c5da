// Layout of the net state page: the viewer state funkhaus-net keeps in a sealed memfd so that a
// restarted net goes on serving every viewer. Created zero-filled by funkhausd (which writes the
// first four fields); written and read by the one funkhaus-net attached, and by its successor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "funkhaus/abi/abi.h"
#include "funkhaus/abi/message.h"

namespace funkhaus::abi {

inline constexpr uint32_t kNetStateMagic = 0x534E4846;  // "FHNS" as little-endian bytes

// Bytes of one parameter-set NAL unit (no start code) the page can keep.
inline constexpr uint32_t kMaxParameterSetSize = 1016;
// Bytes of the one output unit (an RTSP response or a '$'-framed RTP/RTCP packet) per viewer
// connection that may be partly written when net dies; the next net writes the rest first.
inline constexpr uint32_t kNetPendingCapacity = 16384;

enum class ViewerState : uint32_t {
  kFree = 0,     // slot unused; funkhausd keeps no socket for it
  kReady = 1,    // SETUP done (RTSP "Ready"); funkhausd keeps the connection
  kPlaying = 2,  // PLAY done: media flows
};
inline constexpr uint32_t kMaxViewerState = static_cast<uint32_t>(ViewerState::kPlaying);

enum class ViewerTransport : uint32_t {
  kUdp = 1,             // RTP/RTCP to client_address:client_rtp_port/client_rtcp_port
  kTcpInterleaved = 2,  // '$'-framed on the RTSP connection, channels rtp_channel/rtcp_channel
};

// Flags in NetViewerSlot::flags.
inline constexpr uint32_t kViewerFlagNeedsKeyframe = 1u << 0;  // send nothing until a keyframe
inline constexpr uint32_t kViewerFlagsKnown = kViewerFlagNeedsKeyframe;

// NetViewerSlot::out_unit = stream offset << kOutUnitOffsetShift | size.
inline constexpr int kOutUnitOffsetShift = 16;
inline constexpr uint64_t kOutUnitSizeMask = (uint64_t{1} << kOutUnitOffsetShift) - 1;
static_assert(kNetPendingCapacity <= kOutUnitSizeMask, "a unit's size must fit its bits");

// Codec values are those of PacketRecordHeader::codec.
inline constexpr uint32_t kCodecH264 = 1;
inline constexpr uint32_t kCodecHevc = 2;

struct NetParameterSet {
  uint32_t size;  // bytes in data, 0 = none
  uint32_t reserved;
  uint8_t data[kMaxParameterSetSize];  // one NAL unit as in the stream, header included
};

static_assert(sizeof(NetParameterSet) == 1024, "parameter-set size is part of the ABI");
static_assert(std::is_standard_layout_v<NetParameterSet> &&
                  std::is_trivially_copyable_v<NetParameterSet>,
              "no constructor runs in shared memory: the bytes are the object");

// One viewer (RTSP session). Written only by the attached net; a restarted net reads it back
// after the previous one is gone and validates every field before using it.
struct NetViewerSlot {
  // --- the session, written at SETUP (state last) ---
  uint32_t state;                 // (atomic) ViewerState
  uint32_t transport;             // ViewerTransport
  uint64_t session_id;            // RTSP Session id (16 hex digits on the wire), != 0
  uint32_t codec;                 // kCodecH264 / kCodecHevc, as described to the viewer
  uint32_t ssrc;                  // our SSRC towards this viewer
  uint32_t rtp_timestamp_offset;  // random; RTP timestamp = 90 kHz capture time + this
  uint32_t flags;                 // kViewerFlag*
  uint32_t next_sequence;         // next RTP sequence number (low 16 bits)
  uint32_t address_family;        // UDP: AF_INET (2) or AF_INET6 (10) of the client
  uint8_t client_address[16];     // UDP: network order; IPv4 in the first 4 bytes
  uint16_t client_rtp_port;       // UDP: host order
  uint16_t client_rtcp_port;      // UDP: host order
  uint8_t rtp_channel;            // TCP: interleaved channel of RTP
  uint8_t rtcp_channel;           // TCP: interleaved channel of RTCP
  uint16_t reserved0;

  // --- counters ---
  uint64_t packets_sent;       // RTP packets sent (sender report: low 32 bits)
  uint64_t octets_sent;        // RTP payload octets sent (sender report: low 32 bits)
  uint64_t frames_sent;        // access units sent whole
  uint64_t frames_dropped;     // access units dropped because the viewer could not keep up
  uint64_t keyframe_requests;  // PLI and FIR received from this viewer
  uint64_t last_activity_ns;   // CLOCK_MONOTONIC of its last RTSP request or RTCP packet

  // --- its latest RTCP receiver report about us ---
  uint32_t rr_fraction_lost;     // 8-bit fixed point, as sent
  uint32_t rr_cumulative_lost;   // 24-bit two's complement, as sent
  uint32_t rr_highest_sequence;  // extended highest sequence number received
  uint32_t rr_jitter;            // interarrival jitter, 90 kHz units
  uint64_t rr_count;             // receiver reports received
  uint64_t rr_last_ns;           // CLOCK_MONOTONIC of the latest

  // --- the connection's output unit that a successor must finish first ---
  // out_data holds the unit before its first byte is written. out_unit says where it sits in the
  // connection's byte stream, in one atomic word so that it never describes a unit half-way:
  // (bytes written to the connection before the unit) << 16 | (its size). A successor learns
  // from the TCP counters how many bytes the kernel took in all (acked + still queued), so it
  // knows how much of the unit went out (0..size) and writes only the rest.
  uint64_t out_unit;  // (atomic) stream offset << 16 | size; see kOutUnit*
  uint32_t out_sent;  // bytes of the unit known written; used only without the TCP counters
  uint32_t reserved2;
  uint64_t reserved1[4];
  uint8_t out_data[kNetPendingCapacity];
};

static_assert(sizeof(NetViewerSlot) == 192 + kNetPendingCapacity,
              "viewer slot size is part of the ABI");
static_assert(sizeof(NetViewerSlot) % kCacheLine == 0,
              "slots are whole cache lines (a slot array stays line-aligned)");
static_assert(alignof(NetViewerSlot) == 8, "8-byte fields inside need 8-byte alignment");
static_assert(offsetof(NetViewerSlot, state) == 0, "state first: it says whether the rest counts");
static_assert(offsetof(NetViewerSlot, session_id) == 8, "an 8-byte field must be 8-aligned");
static_assert(offsetof(NetViewerSlot, client_address) == 40, "layout drift");
static_assert(offsetof(NetViewerSlot, rtp_channel) == 60, "layout drift");
static_assert(offsetof(NetViewerSlot, packets_sent) == 64, "an 8-byte field must be 8-aligned");
static_assert(offsetof(NetViewerSlot, rr_fraction_lost) == 112, "layout drift");
static_assert(offsetof(NetViewerSlot, out_unit) == 144, "an 8-byte atomic must be 8-aligned");
static_assert(offsetof(NetViewerSlot, out_data) == 192, "output unit starts a cache line");
static_assert(std::is_standard_layout_v<NetViewerSlot>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<NetViewerSlot>,
              "no constructor runs in shared memory: the bytes are the object");

struct NetStatePage {
  // --- cache line 0: written once by funkhausd before net starts ---
  uint32_t magic;        // kNetStateMagic
  uint32_t abi_version;  // kAbiVersion
  uint32_t header_size;  // sizeof(NetStatePage)
  uint32_t max_viewers;  // kMaxViewers (slots in `viewers`)
  uint64_t reserved0[6];

  // --- cache line 1: written by net ---
  uint32_t net_pid;               // (atomic) pid of the attached net, 0 = none
  uint32_t attach_count;          // nets that attached so far (0: this is the first)
  uint32_t codec;                 // codec of the parameter sets below, 0 = none yet
  uint32_t parameter_sets_valid;  // (atomic) 1 while vps/sps/pps are whole; 0 while rewritten
  uint64_t reserved1[6];

  // --- the latest parameter sets, so DESCRIBE after a restart answers at once ---
  NetParameterSet vps;  // HEVC only
  NetParameterSet sps;
  NetParameterSet pps;

  NetViewerSlot viewers[kMaxViewers];
};

static_assert(offsetof(NetStatePage, magic) == 0, "magic first, so it is checked first");
static_assert(offsetof(NetStatePage, abi_version) == 4, "version right after the magic");
static_assert(offsetof(NetStatePage, header_size) == 8, "layout drift");
static_assert(offsetof(NetStatePage, max_viewers) == 12, "layout drift");
static_assert(offsetof(NetStatePage, net_pid) == kCacheLine,
              "net-written fields start their own cache line");
static_assert(offsetof(NetStatePage, parameter_sets_valid) == 76, "atomic words 4-aligned");
static_assert(offsetof(NetStatePage, vps) == 2 * kCacheLine, "layout drift");
static_assert(offsetof(NetStatePage, viewers) == 3200, "layout drift");
static_assert(offsetof(NetStatePage, viewers) % kCacheLine == 0, "slots start a cache line");
static_assert(sizeof(NetStatePage) == 3200 + kMaxViewers * sizeof(NetViewerSlot),
              "page size is part of the ABI");
static_assert(alignof(NetStatePage) == 8, "8-byte fields inside need 8-byte alignment");
static_assert(std::is_standard_layout_v<NetStatePage>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<NetStatePage>,
              "no constructor runs in shared memory: the bytes are the object");

// The header of a fresh (zero-filled) page as its owner writes it: every viewer slot free.
inline void initNetStatePage(NetStatePage& page) {
  page.magic = kNetStateMagic;
  page.abi_version = kAbiVersion;
  page.header_size = sizeof(NetStatePage);
  page.max_viewers = kMaxViewers;
}

}  // namespace funkhaus::abi
