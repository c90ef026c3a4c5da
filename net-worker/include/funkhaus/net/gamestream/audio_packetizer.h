// GameStream audio on UDP 48000 (gamestream.md §7): one Opus packet -> its RTP datagram
// (optionally AES-128-CBC) and, after the 4th packet of a block, the block's 2 Reed-Solomon FEC
// datagrams. Used by funkhaus-net's GameStream sender; an AudioPacketizer belongs to one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/net/gamestream/reed_solomon.h"

namespace funkhaus::net::gamestream {

// Wire constants (gamestream.md §7; moonlight-common-c RtpAudioQueue.h, AudioStream.c).
inline constexpr size_t kAudioRtpHeaderSize = 12;
inline constexpr size_t kAudioFecHeaderSize = 12;  // shard index, PT, base seq, base ts, SSRC
inline constexpr uint8_t kAudioRtpVersion = 0x80;  // RTP v2, no extension
inline constexpr uint8_t kAudioPayloadType = 97;
inline constexpr uint8_t kAudioFecPayloadType = 127;
inline constexpr int kAudioFecDataShards = 4;  // a block starts at seq % 4 == 0
inline constexpr int kAudioFecParityShards = 2;
// The client's fixed parity matrix (it overwrites nanors' Cauchy rows with these): row j, column i.
inline constexpr std::array<uint8_t, kAudioFecDataShards* kAudioFecParityShards> kAudioFecMatrix = {
    0x77, 0x40, 0x38, 0x0E, 0xC7, 0xA7, 0x0D, 0x6C};
// The client receives into a 1400-byte buffer: a longer datagram arrives truncated.
inline constexpr size_t kMaxAudioDatagramSize = 1400;
inline constexpr size_t kAesBlockSize = 16;

// The state of an audio stream that must outlive a funkhaus-net restart. Plain fixed-width
// fields, no pointers: the caller keeps it (in shared memory) and hands a copy to a successor.
// packetize() advances it only on success and before the caller sends anything, so a kill
// between packetizing and sending leaves a gap, never a reuse of a sequence number (which, when
// encrypting, would also reuse an IV).
struct AudioStreamCounters {
  // Counter of the next data packet; its low 16 bits are the RTP sequence number (start 0).
  // FEC packets take none (the client reads their block from the FEC header).
  uint32_t next_rtp_seq = 0;
  // RTP timestamp of the next data packet: + packet duration per packet, in milliseconds
  // (not 48 kHz ticks; the client derives block timestamps from it that way).
  uint32_t next_timestamp = 0;
};
static_assert(std::is_trivially_copyable_v<AudioStreamCounters> &&
                  std::is_standard_layout_v<AudioStreamCounters>,
              "kept in shared memory: the bytes are the object");
static_assert(sizeof(AudioStreamCounters) == 8, "two fixed-width fields, no padding");

// What the client announced for the stream.
struct AudioParams {
  uint32_t packet_duration_ms = 5;  // x-nv-aqos.packetDuration: 5 or 10
  bool encrypt = false;             // ANNOUNCE featureFlags 0x20 or encryptionEnabled 0x04
  std::array<uint8_t, 16> key{};    // the /launch rikey (AES-128-CBC)
  // The /launch rikeyid: IV = BE32(rikeyid + 16-bit seq), then 12 zero bytes. The client's
  // construction repeats an IV every 65 536 packets (5.5 min at 5 ms); the host cannot change it.
  int32_t key_id = 0;
  bool fec = true;  // send the 2 FEC packets after every block of 4
};

// Checks the packet duration.
Result<void> checkAudioParams(const AudioParams& params);

// Bytes of the RTP payload for an Opus packet of `opus_bytes`: itself, or with encryption the
// PKCS#7-padded ciphertext (the next multiple of 16 above it; a full block more when aligned).
size_t audioPayloadSize(size_t opus_bytes, bool encrypt);

// The datagrams of one audio packet, in send order: its data datagram, then, when it completed
// a block with FEC, the block's 2 FEC datagrams. Views into the packetizer's buffers: valid
// until its next packetize() call or its destruction.
struct AudioDatagrams {
  std::array<std::span<const uint8_t>, 1 + kAudioFecParityShards> datagram{};
  size_t count = 0;

  const std::span<const uint8_t>* begin() const { return datagram.data(); }
  const std::span<const uint8_t>* end() const { return datagram.data() + count; }
};

// What happened to the FEC blocks so far (counters, read by the caller's status).
struct AudioPacketizerStats {
  uint64_t packets = 0;     // data datagrams produced
  uint64_t fec_blocks = 0;  // blocks whose 2 FEC datagrams were produced
  // Blocks completed without FEC because their 4 payloads differ in size (the client would
  // turn audio FEC off for the whole stream on such a block) or their FEC datagram would exceed
  // kMaxAudioDatagramSize.
  uint64_t fec_skipped_size = 0;
  // Blocks completed without FEC because this packetizer did not see all 4 of their packets:
  // it started (restart) or the counters jumped in mid-block.
  uint64_t fec_skipped_partial = 0;
};

// The packetizer of one stream: checked parameters, an AES-CBC context, the payloads of the
// current FEC block and the output buffers; a packet costs no allocation.
class AudioPacketizer {
 public:
  static Result<AudioPacketizer> create(const AudioParams& params);
  AudioPacketizer(AudioPacketizer&&) noexcept;
  AudioPacketizer& operator=(AudioPacketizer&&) noexcept;
  ~AudioPacketizer();

  const AudioParams& params() const { return params_; }
  const AudioPacketizerStats& stats() const { return stats_; }

  // The datagrams for one Opus packet (1 byte or more; its data datagram at most
  // kMaxAudioDatagramSize). Sequence number and timestamp come from `counters`, which is
  // advanced by one packet on success only. A packet whose counters do not continue the block
  // this packetizer holds starts over: that block gets no FEC (counted).
  Result<AudioDatagrams> packetize(std::span<const uint8_t> opus, AudioStreamCounters& counters);

 private:
  struct Cipher;
  struct Buffers;
  AudioPacketizer(const AudioParams& params, ReedSolomon rs);

  Result<void> encrypt(std::span<const uint8_t> opus, uint16_t seq, uint8_t* out, size_t size);
  // After the 4th packet of a fully held block: its FEC datagrams into `result`, or a count of
  // why not.
  void finishBlock(AudioDatagrams& result);

  AudioParams params_;
  ReedSolomon rs_;                  // 4 + 2 with kAudioFecMatrix
  std::unique_ptr<Cipher> cipher_;  // null when not encrypting
  std::unique_ptr<Buffers> buffers_;
  AudioPacketizerStats stats_;
  // The FEC block being collected: its first packet's counter and timestamp, and how many of
  // its packets, from its start and in order, went through this packetizer (-1: one was
  // missed, so the block gets no FEC).
  uint32_t block_base_seq_ = 0;
  uint32_t block_base_timestamp_ = 0;
  int block_held_ = 0;
};

}  // namespace funkhaus::net::gamestream
