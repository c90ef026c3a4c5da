// GameStream audio packetization (gamestream.md §7): RTP data packets, AES-128-CBC with the
// per-packet IV, and the 4 + 2 Reed-Solomon blocks with the client's fixed matrix.
#include "funkhaus/net/gamestream/audio_packetizer.h"

#include <cstring>
#include <utility>

#include <openssl/evp.h>

#include "funkhaus/common/byte_order.h"

namespace funkhaus::net::gamestream {
namespace {

// Offsets in the RTP header and the FEC header that follows it in an FEC packet.
constexpr size_t kOffPayloadType = 1;
constexpr size_t kOffSeq = 2;
constexpr size_t kOffTimestamp = 4;
constexpr size_t kOffSsrc = 8;
constexpr size_t kOffFecShardIndex = kAudioRtpHeaderSize + 0;
constexpr size_t kOffFecPayloadType = kAudioRtpHeaderSize + 1;
constexpr size_t kOffFecBaseSeq = kAudioRtpHeaderSize + 2;
constexpr size_t kOffFecBaseTimestamp = kAudioRtpHeaderSize + 4;
constexpr size_t kOffFecSsrc = kAudioRtpHeaderSize + 8;
constexpr size_t kFecPrefix = kAudioRtpHeaderSize + kAudioFecHeaderSize;

constexpr size_t kMaxAudioPayload = kMaxAudioDatagramSize - kAudioRtpHeaderSize;
constexpr size_t kMaxAudioFecPayload = kMaxAudioDatagramSize - kFecPrefix;

void writeRtpHeader(uint8_t* p, uint8_t payload_type, uint16_t seq, uint32_t timestamp) {
  p[0] = kAudioRtpVersion;
  p[kOffPayloadType] = payload_type;
  bytes::storeBe<uint16_t>(p + kOffSeq, seq);
  bytes::storeBe<uint32_t>(p + kOffTimestamp, timestamp);
  bytes::storeBe<uint32_t>(p + kOffSsrc, 0);
}

}  // namespace

struct AudioPacketizer::Cipher {
  EVP_CIPHER_CTX* ctx = nullptr;
  ~Cipher() { EVP_CIPHER_CTX_free(ctx); }
};

// The data datagrams of the current block (one per position, so the parity reads the payloads
// where they are) and its FEC datagrams.
struct AudioPacketizer::Buffers {
  std::array<std::array<uint8_t, kMaxAudioDatagramSize>, kAudioFecDataShards> data;
  std::array<size_t, kAudioFecDataShards> payload_size;
  std::array<std::array<uint8_t, kMaxAudioDatagramSize>, kAudioFecParityShards> fec;
};

Result<void> checkAudioParams(const AudioParams& params) {
  if (params.packet_duration_ms != 5 && params.packet_duration_ms != 10) {
    return makeError(ErrorCode::kBadConfig, "audio packet duration {} ms is not 5 or 10",
                     params.packet_duration_ms);
  }
  return {};
}

size_t audioPayloadSize(size_t opus_bytes, bool encrypt) {
  return encrypt ? (opus_bytes / kAesBlockSize + 1) * kAesBlockSize : opus_bytes;
}

AudioPacketizer::AudioPacketizer(const AudioParams& params, ReedSolomon rs)
    : params_(params), rs_(std::move(rs)), buffers_(std::make_unique<Buffers>()) {}
AudioPacketizer::AudioPacketizer(AudioPacketizer&&) noexcept = default;
AudioPacketizer& AudioPacketizer::operator=(AudioPacketizer&&) noexcept = default;
AudioPacketizer::~AudioPacketizer() = default;

Result<AudioPacketizer> AudioPacketizer::create(const AudioParams& params) {
  if (auto ok = checkAudioParams(params); !ok) return ok.error();
  auto rs =
      ReedSolomon::createWithMatrix(kAudioFecDataShards, kAudioFecParityShards, kAudioFecMatrix);
  if (!rs) return rs.error();
  AudioPacketizer packetizer(params, std::move(*rs));
  if (params.encrypt) {
    packetizer.cipher_ = std::make_unique<Cipher>();
    packetizer.cipher_->ctx = EVP_CIPHER_CTX_new();
    if (packetizer.cipher_->ctx == nullptr ||
        EVP_EncryptInit_ex(packetizer.cipher_->ctx, EVP_aes_128_cbc(), nullptr, params.key.data(),
                           nullptr) != 1) {
      return makeError("audio AES-128-CBC context setup failed");
    }
  }
  return packetizer;
}

Result<void> AudioPacketizer::encrypt(std::span<const uint8_t> opus, uint16_t seq, uint8_t* out,
                                      size_t size) {
  // IV = BE32(rikeyid + seq) and 12 zero bytes; the client adds the 16-bit sequence number.
  std::array<uint8_t, kAesBlockSize> iv{};
  bytes::storeBe<uint32_t>(iv.data(), static_cast<uint32_t>(params_.key_id) + seq);
  EVP_CIPHER_CTX* ctx = cipher_->ctx;
  int len = 0;
  int final_len = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv.data()) != 1 ||
      EVP_EncryptUpdate(ctx, out, &len, opus.data(), static_cast<int>(opus.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx, out + len, &final_len) != 1 ||
      static_cast<size_t>(len + final_len) != size) {
    return makeError("audio AES-128-CBC encryption failed");
  }
  return {};
}

Result<AudioDatagrams> AudioPacketizer::packetize(std::span<const uint8_t> opus,
                                                  AudioStreamCounters& counters) {
  if (opus.empty()) return makeError("audio packet is empty");
  const size_t payload = audioPayloadSize(opus.size(), cipher_ != nullptr);
  if (payload > kMaxAudioPayload) {
    return makeError("audio packet of {} bytes makes a datagram of {} bytes (at most {})",
                     opus.size(), kAudioRtpHeaderSize + payload, kMaxAudioDatagramSize);
  }
  const uint32_t counter = counters.next_rtp_seq;
  const uint16_t seq = static_cast<uint16_t>(counter);
  const uint32_t timestamp = counters.next_timestamp;
  // 2^16 is a multiple of 4, so the counter's position in its block is the wire's.
  const int pos = static_cast<int>(counter % kAudioFecDataShards);

  uint8_t* datagram = buffers_->data[static_cast<size_t>(pos)].data();
  writeRtpHeader(datagram, kAudioPayloadType, seq, timestamp);
  if (cipher_) {
    if (auto ok = encrypt(opus, seq, datagram + kAudioRtpHeaderSize, payload); !ok) {
      return ok.error();
    }
  } else {
    std::memcpy(datagram + kAudioRtpHeaderSize, opus.data(), opus.size());
  }
  buffers_->payload_size[static_cast<size_t>(pos)] = payload;

  AudioDatagrams result;
  result.datagram[result.count++] =
      std::span<const uint8_t>(datagram, kAudioRtpHeaderSize + payload);
  ++stats_.packets;

  // The block: held from its start, in order, with timestamps the client would derive.
  if (pos == 0) {
    block_base_seq_ = counter;
    block_base_timestamp_ = timestamp;
    block_held_ = 1;
  } else if (block_held_ == pos && block_base_seq_ == counter - static_cast<uint32_t>(pos) &&
             block_base_timestamp_ + static_cast<uint32_t>(pos) * params_.packet_duration_ms ==
                 timestamp) {
    ++block_held_;
  } else {
    block_held_ = -1;
  }
  if (pos == kAudioFecDataShards - 1 && params_.fec) finishBlock(result);

  counters.next_rtp_seq = counter + 1;
  counters.next_timestamp = timestamp + params_.packet_duration_ms;
  return result;
}

void AudioPacketizer::finishBlock(AudioDatagrams& result) {
  if (block_held_ != kAudioFecDataShards) {
    ++stats_.fec_skipped_partial;
    return;
  }
  const size_t size = buffers_->payload_size[0];
  for (size_t i = 1; i < kAudioFecDataShards; ++i) {
    if (buffers_->payload_size[i] != size) {
      ++stats_.fec_skipped_size;
      return;
    }
  }
  if (size > kMaxAudioFecPayload) {
    ++stats_.fec_skipped_size;
    return;
  }
  std::array<const uint8_t*, kAudioFecDataShards> data{};
  std::array<uint8_t*, kAudioFecParityShards> parity{};
  for (size_t i = 0; i < kAudioFecDataShards; ++i) {
    data[i] = buffers_->data[i].data() + kAudioRtpHeaderSize;
  }
  for (size_t j = 0; j < kAudioFecParityShards; ++j) {
    uint8_t* p = buffers_->fec[j].data();
    parity[j] = p + kFecPrefix;
    // The RTP header's seq and timestamp are ignored by the client; Sunshine's values.
    writeRtpHeader(p, kAudioFecPayloadType,
                   static_cast<uint16_t>(block_base_seq_ + kAudioFecDataShards + j), 0);
    p[kOffFecShardIndex] = static_cast<uint8_t>(j);
    p[kOffFecPayloadType] = kAudioPayloadType;
    bytes::storeBe<uint16_t>(p + kOffFecBaseSeq, static_cast<uint16_t>(block_base_seq_));
    bytes::storeBe<uint32_t>(p + kOffFecBaseTimestamp, block_base_timestamp_);
    bytes::storeBe<uint32_t>(p + kOffFecSsrc, 0);
  }
  rs_.encode(data, parity, size);
  for (size_t j = 0; j < kAudioFecParityShards; ++j) {
    result.datagram[result.count++] =
        std::span<const uint8_t>(buffers_->fec[j].data(), kFecPrefix + size);
  }
  ++stats_.fec_blocks;
}

}  // namespace funkhaus::net::gamestream
