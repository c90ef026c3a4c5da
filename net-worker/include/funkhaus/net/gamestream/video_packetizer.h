// GameStream video on UDP 47998 (gamestream.md §6): one access unit -> the datagrams of one frame
// (frame header, 32-byte packet headers, Reed-Solomon FEC blocks, optional AES-GCM). Used by
// funkhaus-net's GameStream sender thread; a VideoPacketizer belongs to one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "funkhaus/common/media/nal.h"
#include "funkhaus/common/result.h"

namespace funkhaus::net::gamestream {

// Wire constants (gamestream.md §6.1, §6.7).
inline constexpr size_t kVideoRtpHeaderSize = 16;     // RTP header with the 4 extension bytes
inline constexpr size_t kVideoNvHeaderSize = 16;      // streamPacketIndex .. fecInfo
inline constexpr size_t kVideoFrameHeaderSize = 8;    // the short frame header (byte 0 = 0x01)
inline constexpr size_t kVideoEncryptionPrefix = 32;  // IV[12], LE32 frame index, tag[16]
inline constexpr uint8_t kVideoFlagPicData = 0x01;
inline constexpr uint8_t kVideoFlagEof = 0x02;
inline constexpr uint8_t kVideoFlagSof = 0x04;
inline constexpr uint8_t kVideoMultiFecFlags = 0x10;
inline constexpr uint32_t kMaxVideoFecBlocks = 4;          // 2 bits of block index
inline constexpr uint32_t kMaxVideoShardsPerBlock = 1023;  // 10-bit fecInfo fields
// P: a multiple of 16 (the client rounds down to it) in [64, 65'408] (a datagram of P + 48 bytes
// fits in UDP).
inline constexpr uint32_t kMinVideoPacketSize = 64;
inline constexpr uint32_t kMaxVideoPacketSize = 65'408;
inline constexpr uint32_t kMaxVideoFecPercent = 255;     // 8-bit fecInfo field
inline constexpr uint32_t kMaxVideoMinFecPackets = 127;  // sanity bound on the client's ask

// The state of a video stream that must outlive a funkhaus-net restart. Plain fixed-width fields
// so the caller can keep it in shared memory (abi::GamestreamState holds the same three fields)
// and hand a copy to a successor. packetizeFrame() advances it only on success, and before the
// caller sends anything: a kill between packetizing and sending leaves a gap, never a reuse.
struct VideoStreamCounters {
  // Counter of the next packet, data and parity alike: its low 16 bits are the RTP sequence
  // number, its low 24 bits the streamPacketIndex of a data packet (the client wants both to
  // grow across frames). Starts at 0 (the client rejects a first sequence number >= 0x8000).
  uint32_t next_rtp_seq = 0;
  // frameIndex of the next frame: the first frame is 1, +1 per frame (0 is skipped on wrap).
  uint32_t next_frame_index = 1;
  // Invocation counter of the next AES-GCM IV (bytes 0..7 of the IV, LE): +1 per encrypted
  // datagram. Never reused with the same key, so it must survive restarts.
  uint64_t next_iv = 0;
};
static_assert(std::is_trivially_copyable_v<VideoStreamCounters> &&
                  std::is_standard_layout_v<VideoStreamCounters>,
              "kept in shared memory: the bytes are the object");
static_assert(sizeof(VideoStreamCounters) == 16, "three fixed-width fields, no padding");

// What the client announced (and we chose) for the stream.
struct VideoParams {
  // P = x-nv-video[0].packetSize as announced: NV header + payload bytes per packet. With video
  // encryption the client already subtracted the 32-byte prefix from it (as it expects).
  uint32_t packet_size = 1024;
  uint32_t fec_percent = 20;     // parity per block in percent of its data shards (0: no FEC)
  uint32_t min_fec_packets = 0;  // x-nv-vqos[0].fec.minRequiredFecPackets
  media::Codec codec = media::Codec::kH264;
  bool encrypt = false;           // encryptionEnabled bit 2 (SS_ENC_VIDEO)
  std::array<uint8_t, 16> key{};  // the /launch rikey (AES-128-GCM)
};

// One coded frame.
struct VideoFrameIn {
  std::span<const uint8_t> access_unit;  // Annex-B; an IDR carries its SPS/PPS (+VPS) in front
  bool idr = false;                      // frame type 2 (else 1, P-frame)
  uint16_t host_latency_100us = 0;       // host processing latency in 0.1 ms (0: unknown)
  uint32_t rtp_timestamp = 0;            // 90 kHz capture time
};

// Checks P (multiple of 16, in range), fec_percent, min_fec_packets and the codec.
Result<void> checkVideoParams(const VideoParams& params);

// Bytes of every datagram of the stream: P + 16 (+ 32 when encrypted).
size_t datagramSize(const VideoParams& params);

// How one frame is laid out in FEC blocks (exposed for tests and statistics).
struct VideoBlockPlan {
  uint32_t data_shards = 0;
  uint32_t parity_shards = 0;
  uint32_t fec_percent = 0;  // as written in fecInfo: ceil(data * pct / 100) == parity_shards
};
struct VideoFramePlan {
  uint32_t blocks = 0;
  std::array<VideoBlockPlan, kMaxVideoFecBlocks> block{};
  uint32_t datagrams() const;
};
// The blocks of a frame of `payload_bytes` (frame header included) under `params` (checked):
// at most 255 * 100 / (100 + pct) data shards per block, split evenly; more than 4 blocks ->
// 4 blocks without FEC; parity raised to min_fec_packets (pct rewritten) where the 8-bit pct
// allows. Fails for a frame that does not fit 4 blocks of 1023 shards.
Result<VideoFramePlan> planVideoFrame(size_t payload_bytes, const VideoParams& params);

// The packetizer of one stream: checked parameters, an AES-GCM context and scratch buffers,
// so that a frame costs no allocation once the caller's output buffer has grown.
class VideoPacketizer {
 public:
  static Result<VideoPacketizer> create(const VideoParams& params);
  VideoPacketizer(VideoPacketizer&&) noexcept;
  VideoPacketizer& operator=(VideoPacketizer&&) noexcept;
  ~VideoPacketizer();

  const VideoParams& params() const { return params_; }
  size_t datagramSize() const;

  // Appends the datagrams of one frame to `out`, each datagramSize() bytes, in send order
  // (per block: data, then parity), and returns how many. AUD and SEI NAL units are dropped
  // first so an IDR slice starts in the first packet. Advances `counters` only on success;
  // on failure `out` is as it was.
  Result<size_t> packetizeFrame(const VideoFrameIn& frame, VideoStreamCounters& counters,
                                std::vector<uint8_t>& out);

 private:
  struct Cipher;
  explicit VideoPacketizer(const VideoParams& params);

  VideoParams params_;
  std::unique_ptr<Cipher> cipher_;    // null when not encrypting
  std::vector<media::NalUnit> nals_;  // scratch: the access unit's NAL units
  std::vector<uint8_t> stripped_;     // scratch: the access unit without AUD/SEI
};

// One-shot form of VideoPacketizer::packetizeFrame (sets up a packetizer per call).
Result<size_t> packetizeFrame(const VideoFrameIn& frame, const VideoParams& params,
                              VideoStreamCounters& counters, std::vector<uint8_t>& out);

}  // namespace funkhaus::net::gamestream
