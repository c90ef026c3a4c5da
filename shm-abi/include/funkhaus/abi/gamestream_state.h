// The GameStream protocol's blob in the net state page: the launch funkhausd publishes (the
// stream key funkhaus-web got from /launch) and the stream funkhaus-net serves for it (handshake,
// announced parameters, the client's media addresses, video counters, the control stream).
// The launch part is written by funkhausd only (seqlock); the rest by funkhaus-net and read back
// by its successor, which validates every field.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "funkhaus/abi/abi.h"
#include "funkhaus/abi/gamestream_control.h"
#include "funkhaus/abi/net_state.h"

namespace funkhaus::abi {

inline constexpr uint32_t kGamestreamStateMagic = 0x53474846;  // "FHGS" as little-endian bytes
// The GameStream blob's own version: bump on any change to a struct or enum in this file or in
// gamestream_control.h (the golden layout test fails until you do).
inline constexpr uint32_t kGamestreamStateVersion = 2;  // 2: audio packet counters

// What funkhausd publishes when funkhaus-web's /launch or /resume was accepted, and when the
// client cancels or is unpaired. Readers copy it out between two equal even `sequence` reads.
struct GamestreamLaunch {
  uint64_t sequence;  // (atomic) odd while funkhausd writes; even: stable; 0: never launched
  uint32_t active;    // 1: a client may stream with this key; 0: cancelled (end the stream)
  int32_t rikeyid;    // the key id from /launch (the AES-CBC IV base and GCM key id)
  uint8_t rikey[16];  // AES-128 key from /launch: control, video and audio encryption
  uint32_t app_id;    // the app launched (1 = Desktop)
  uint32_t width;     // the mode /launch asked for (ANNOUNCE decides; informational)
  uint32_t height;
  uint32_t fps;
  uint8_t client_id[64];  // the paired client's id (hex SHA-256 text, NUL-padded if shorter)
  uint64_t reserved[2];
};

static_assert(offsetof(GamestreamLaunch, sequence) == 0, "the seqlock word first, 8-aligned");
static_assert(sizeof(GamestreamLaunch) == 2 * kCacheLine, "two whole cache lines");
static_assert(std::is_standard_layout_v<GamestreamLaunch> &&
                  std::is_trivially_copyable_v<GamestreamLaunch>,
              "no constructor runs in shared memory: the bytes are the object");

// Where the stream of a launch is.
enum class GamestreamPhase : uint32_t {
  kIdle = 0,       // no stream: waiting for a launch and its RTSP handshake
  kHandshake = 1,  // SETUPs answered for the current launch
  kAnnounced = 2,  // ANNOUNCE taken: parameters below are valid
  kPlaying = 3,    // PLAY answered: video goes to the client once it pinged
};
inline constexpr uint32_t kMaxGamestreamPhase = static_cast<uint32_t>(GamestreamPhase::kPlaying);

// A client's UDP address as bytes (no sockaddr in shared memory: its layout is the libc's).
struct GamestreamPeer {
  uint16_t family;  // 0 = unknown, else AF_INET / AF_INET6
  uint16_t port;    // host byte order
  uint32_t reserved;
  uint8_t address[16];  // IPv4 in the first 4 bytes
};

static_assert(sizeof(GamestreamPeer) == 24, "peer size is part of the blob");

// The parameters the client announced (gamestream.md §4.4), as net acts on them.
struct GamestreamStreamParams {
  uint32_t width, height, fps;
  uint32_t packet_size;      // P: NV header + payload bytes per video packet
  uint32_t bitrate_kbps;     // the encoder's target
  uint32_t codec;            // Codec (common/media/codec.h)
  uint32_t min_fec_packets;  // parity shards per FEC block at least
  uint32_t fec_percent;      // parity percentage per block (ours)
  uint32_t encryption;       // encryptionEnabled bits: 1 control v2, 2 video, 4 audio
  uint32_t audio_channels;   // 2, 6, 8
  uint32_t audio_packet_ms;  // Opus frame duration
  uint32_t audio_encrypted;  // 1: AES-CBC audio (featureFlags 0x20 or encryption 4)
  uint32_t reserved[4];
};

static_assert(sizeof(GamestreamStreamParams) == 64, "params size is part of the blob");

struct GamestreamState {
  NetBlobHeader header;  // kGamestreamStateMagic, kGamestreamStateVersion, sizeof

  // --- written by funkhausd only ---
  GamestreamLaunch launch;

  // --- written by funkhaus-net ---
  uint64_t launch_sequence;   // the launch (sequence) the stream below belongs to
  uint32_t phase;             // GamestreamPhase
  uint32_t connect_data;      // X-SS-Connect-Data: the ENet CONNECT of this stream carries it
  char video_ping[16];        // X-SS-Ping-Payload of the video stream (not NUL-terminated)
  char audio_ping[16];        // ... of the audio stream
  uint64_t session_id;        // RTSP Session (hex on the wire)
  uint64_t started_ns;        // CLOCK_MONOTONIC when PLAY was answered (0 before)
  uint64_t last_heard_ns;     // CLOCK_MONOTONIC of the client's latest control traffic
  GamestreamPeer video_peer;  // where video goes (the first matching video ping)
  GamestreamPeer audio_peer;  // where audio goes (the first matching audio ping)
  GamestreamStreamParams params;
  // Video counters: the next packet's counter (its low 16 bits are the RTP sequence number, its
  // low 24 bits the streamPacketIndex, which must keep growing past 65535), next frame index
  // (first 1), next IV counter of encrypted video. Taken before the datagrams go out: a kill leaves
  // a gap.
  uint32_t video_rtp_seq;
  uint32_t video_frame_index;
  uint64_t video_iv;
  uint32_t audio_rtp_seq;
  uint32_t audio_timestamp;
  uint64_t frames_sent;  // access units sent whole (counters of the stream, for status)
  uint64_t bytes_sent;
  uint64_t dropped_input;       // datagrams and messages from others or bad (dropped and counted)
  uint64_t audio_packets_sent;  // Opus packets of this stream sent whole (FEC included)
  uint64_t audio_packets_dropped;  // ... not sent: socket full, or not what the client decodes
  uint64_t reserved[4];

  GsEnetState control;  // the ENet peer and the control cipher (gamestream_control.h)
};

static_assert(offsetof(GamestreamState, launch) == kCacheLine, "funkhausd's part: own lines");
static_assert(offsetof(GamestreamState, launch_sequence) == 3 * kCacheLine,
              "net's part starts its own cache line");
static_assert(offsetof(GamestreamState, control) % 8 == 0, "8-byte fields need 8-alignment");
static_assert(std::is_standard_layout_v<GamestreamState> &&
                  std::is_trivially_copyable_v<GamestreamState>,
              "no constructor runs in shared memory: the bytes are the object");
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free, "the seqlock word is lock-free");

}  // namespace funkhaus::abi
