// The RTSP/RTP protocol's blob in the net state page: its viewers (RTSP sessions) and the latest
// parameter sets. Written and read only by funkaus-net's RTSP protocol (and its successor);
// funkhausd only reserves sizeof(RtspState) bytes for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "funkhaus/abi/abi.h"
#include "funkhaus/abi/message.h"
#include "funkhaus/abi/net_state.h"

namespace funkhaus::abi {

inline constexpr uint32_t kRtspStateMagic = 0x54524846;  // "FHRT" as little-endian bytes
// The RTSP blob's own version: bump on any change to a struct or enum in this file (the golden
// layout test fails until you do). Nothing else in the ABI depends on it.
inline constexpr uint32_t kRtspStateVersion = 2;  // 2: the audio track in the viewer slot

// Bytes of one parameter-set NAL unit (no start code) the blob can keep.
inline constexpr uint32_t kMaxParameterSetSize = 1016;

enum class ViewerState : uint32_t {
  kFree = 0,     // slot unused
  kReady = 1,    // SETUP done (RTSP "Ready"); its connection is kept
  kPlaying = 2,  // PLAY done: media flows
};
inline constexpr uint32_t kMaxViewerState = static_cast<uint32_t>(ViewerState::kPlaying);

enum class ViewerTransport : uint32_t {
  kUdp = 1,             // RTP/RTCP to client_address:client_rtp_port/client_rtcp_port
  kTcpInterleaved = 2,  // '$'-framed on the RTSP connection, channels rtp_channel/rtcp_channel
};

// Flags in RtspViewerSlot::flags.
inline constexpr uint32_t kViewerFlagNeedsKeyframe = 1u << 0;  // send nothing until a keyframe
inline constexpr uint32_t kViewerFlagsKnown = kViewerFlagNeedsKeyframe;

struct NetParameterSet {
  uint32_t size;  // bytes in data, 0 = none
  uint32_t reserved;
  uint8_t data[kMaxParameterSetSize];  // one NAL unit as in the stream, header included
};

// Flags in RtspAudioTrack::flags.
inline constexpr uint32_t kAudioTrackFlagSetUp = 1u << 0;  // SETUP of the audio track done
inline constexpr uint32_t kAudioTrackFlagTimed = 1u << 1;  // next_timestamp continues the stream
inline constexpr uint32_t kAudioTrackFlagsKnown = kAudioTrackFlagSetUp | kAudioTrackFlagTimed;

// A viewer's audio track (Opus, RFC 7587): it plays while its viewer does. The transport is the
// video's (the same client address, or the same connection with channels of its own).
struct RtspAudioTrack {
  uint32_t flags;             // kAudioTrackFlag*; 0 = no audio track
  uint32_t ssrc;              // our SSRC of the audio track, != the video's
  uint32_t timestamp_offset;  // random; RTP timestamp = 48 kHz capture time + this
  uint32_t next_timestamp;    // kAudioTrackFlagTimed: the last packet's timestamp + its samples
  uint32_t next_sequence;     // next RTP sequence number (low 16 bits)
  uint16_t client_rtp_port;   // UDP: host order
  uint16_t client_rtcp_port;  // UDP: host order
  uint8_t rtp_channel;        // TCP: interleaved channel of RTP
  uint8_t rtcp_channel;       // TCP: interleaved channel of RTCP
  uint16_t reserved0;
  uint32_t reserved1;
  uint64_t packets_sent;     // RTP packets sent (sender report: low 32 bits)
  uint64_t octets_sent;      // RTP payload octets sent (sender report: low 32 bits)
  uint64_t packets_dropped;  // packets the viewer could not take
  uint64_t reserved2;
};

static_assert(sizeof(RtspAudioTrack) == 64, "audio track size is part of the viewer slot");
static_assert(offsetof(RtspAudioTrack, client_rtp_port) == 20, "layout drift");
static_assert(offsetof(RtspAudioTrack, packets_sent) == 32, "an 8-byte field must be 8-aligned");
static_assert(std::is_standard_layout_v<RtspAudioTrack> &&
                  std::is_trivially_copyable_v<RtspAudioTrack>,
              "no constructor runs in shared memory: the bytes are the object");

static_assert(sizeof(NetParameterSet) == 1024, "parameter-set size is part of the blob");
static_assert(std::is_standard_layout_v<NetParameterSet> &&
                  std::is_trivially_copyable_v<NetParameterSet>,
              "no constructor runs in shared memory: the bytes are the object");

// One viewer (RTSP session). Its connection is the page's connection slot of the same index.
struct RtspViewerSlot {
  // --- the session, written at SETUP (state last) ---
  uint32_t state;                 // (atomic) ViewerState
  uint32_t transport;             // ViewerTransport
  uint64_t session_id;            // RTSP Session id (16 hex digits on the wire), != 0
  uint32_t codec;                 // Codec (codec.h), as described to the viewer
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
  uint64_t reserved1[6];

  // --- its audio track (with an audio ring), kept so a restarted net continues it ---
  RtspAudioTrack audio;
};

static_assert(sizeof(RtspViewerSlot) == 256, "viewer slot size is part of the blob");
static_assert(alignof(RtspViewerSlot) == 8, "8-byte fields inside need 8-byte alignment");
static_assert(offsetof(RtspViewerSlot, state) == 0, "state first: it says whether the rest counts");
static_assert(offsetof(RtspViewerSlot, session_id) == 8, "an 8-byte field must be 8-aligned");
static_assert(offsetof(RtspViewerSlot, client_address) == 40, "layout drift");
static_assert(offsetof(RtspViewerSlot, rtp_channel) == 60, "layout drift");
static_assert(offsetof(RtspViewerSlot, packets_sent) == 64, "an 8-byte field must be 8-aligned");
static_assert(offsetof(RtspViewerSlot, rr_fraction_lost) == 112, "layout drift");
static_assert(offsetof(RtspViewerSlot, rr_count) == 128, "an 8-byte field must be 8-aligned");
static_assert(offsetof(RtspViewerSlot, audio) == 192, "an 8-byte field must be 8-aligned");
static_assert(std::is_standard_layout_v<RtspViewerSlot>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<RtspViewerSlot>,
              "no constructor runs in shared memory: the bytes are the object");

struct RtspState {
  NetBlobHeader header;  // kRtspStateMagic, kRtspStateVersion, sizeof(RtspState)

  // --- the latest parameter sets, so DESCRIBE after a restart answers at once ---
  uint32_t codec;                 // Codec of the sets below, 0 = none yet
  uint32_t parameter_sets_valid;  // (atomic) 1 while vps/sps/pps are whole; 0 while rewritten
  uint64_t reserved[7];
  NetParameterSet vps;  // HEVC only
  NetParameterSet sps;
  NetParameterSet pps;

  RtspViewerSlot viewers[kMaxConnections];
};

static_assert(offsetof(RtspState, codec) == kCacheLine, "layout drift");
static_assert(offsetof(RtspState, parameter_sets_valid) == kCacheLine + 4, "atomic 4-aligned");
static_assert(offsetof(RtspState, vps) == 2 * kCacheLine, "layout drift");
static_assert(offsetof(RtspState, viewers) == 2 * kCacheLine + 3 * sizeof(NetParameterSet),
              "layout drift");
static_assert(sizeof(RtspState) == 3200 + kMaxConnections * sizeof(RtspViewerSlot),
              "blob size is part of the blob");
static_assert(std::is_standard_layout_v<RtspState>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<RtspState>,
              "no constructor runs in shared memory: the bytes are the object");

}  // namespace funkhaus::abi
