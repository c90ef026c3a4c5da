// GameStream video packetization (gamestream.md §6): frame header, per-packet headers, FEC blocks
// with the client's Reed-Solomon code, AES-128-GCM per datagram.
#include "funkhaus/net/gamestream/video_packetizer.h"
#include "funkhaus/common/byte_order.h"

#include <algorithm>
#include <cstring>

#include <openssl/evp.h>

#include "funkhaus/net/gamestream/reed_solomon.h"

namespace funkhaus::net::gamestream {
namespace {

constexpr uint8_t kRtpVersionWithExtension = 0x90;  // the client requires the extension bit
constexpr uint8_t kFrameHeaderShort = 0x01;
constexpr uint8_t kFrameTypeP = 1;
constexpr uint8_t kFrameTypeIdr = 2;
constexpr uint8_t kIvFixedField = 'V';  // IV byte 11: video (audio/control use other keys/fields)
constexpr uint8_t kStartCode[4] = {0, 0, 0, 1};

// Offsets inside one packet (RTP header, NV header, payload).
constexpr size_t kOffSeq = 2;
constexpr size_t kOffTimestamp = 4;
constexpr size_t kOffStreamPacketIndex = 16;
constexpr size_t kOffFrameIndex = 20;
constexpr size_t kOffFlags = 24;
constexpr size_t kOffMultiFecFlags = 26;
constexpr size_t kOffMultiFecBlocks = 27;
constexpr size_t kOffFecInfo = 28;
constexpr size_t kOffPayload = 32;

uint32_t ceilDiv(size_t a, size_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

// Parity count the client derives from fecInfo: ceil(data * pct / 100).
uint32_t clientParity(uint32_t data, uint32_t pct) { return (data * pct + 99) / 100; }

// Parity and the pct to write for one block of `data` shards (gamestream.md §6.3). The client
// rebuilds the parity count from the written pct, and the matrix depends on that count, so the
// result always satisfies clientParity(data, pct) == parity.
VideoBlockPlan planBlock(uint32_t data, uint32_t pct, uint32_t min_parity) {
  VideoBlockPlan plan{data, clientParity(data, pct), pct};
  if (pct == 0 || plan.parity_shards >= min_parity) return plan;
  // Raise to the client's minimum: pct = floor(100 * min / data) as Sunshine writes it, then up
  // to the first pct whose ceiling reaches the minimum (needed above 100 data shards), within
  // the 8-bit field and the 255-shard code.
  uint32_t raised = 100 * min_parity / data;
  while (raised < kMaxVideoFecPercent && clientParity(data, raised) < min_parity) ++raised;
  raised = std::min(raised, kMaxVideoFecPercent);
  while (raised > pct &&
         data + clientParity(data, raised) > static_cast<uint32_t>(ReedSolomon::kMaxTotalShards)) {
    --raised;
  }
  return {data, clientParity(data, raised), raised};
}

bool isSei(media::Codec codec, media::NalUnit nal) {
  const int type = media::nalType(codec, nal);
  // H.264 7.4.1.2: 6 SEI. H.265 7.4.2.2: 39 prefix SEI, 40 suffix SEI.
  return codec == media::Codec::kH264 ? type == 6 : (type == 39 || type == 40);
}

// Copies bytes [pos, pos + n) of (header || body) to dst.
void copyStream(uint8_t* dst, size_t pos, size_t n, std::span<const uint8_t> header,
                std::span<const uint8_t> body) {
  if (pos < header.size()) {
    const size_t k = std::min(n, header.size() - pos);
    std::memcpy(dst, header.data() + pos, k);
    dst += k;
    n -= k;
    pos = header.size();
  }
  if (n > 0) std::memcpy(dst, body.data() + (pos - header.size()), n);
}

}  // namespace

struct VideoPacketizer::Cipher {
  EVP_CIPHER_CTX* ctx = nullptr;
  ~Cipher() { EVP_CIPHER_CTX_free(ctx); }
};

uint32_t VideoFramePlan::datagrams() const {
  uint32_t n = 0;
  for (uint32_t b = 0; b < blocks; ++b) n += block[b].data_shards + block[b].parity_shards;
  return n;
}

Result<void> checkVideoParams(const VideoParams& params) {
  if (params.packet_size % 16 != 0 || params.packet_size < kMinVideoPacketSize ||
      params.packet_size > kMaxVideoPacketSize) {
    return makeError(ErrorCode::kBadConfig,
                     "video packet size {} must be a multiple of 16 in [{}, {}]",
                     params.packet_size, kMinVideoPacketSize, kMaxVideoPacketSize);
  }
  if (params.fec_percent > kMaxVideoFecPercent) {
    return makeError(ErrorCode::kBadConfig, "video FEC percentage {} is above {}",
                     params.fec_percent, kMaxVideoFecPercent);
  }
  if (params.min_fec_packets > kMaxVideoMinFecPackets) {
    return makeError(ErrorCode::kBadConfig, "minimum video FEC packets {} is above {}",
                     params.min_fec_packets, kMaxVideoMinFecPackets);
  }
  if (params.codec != media::Codec::kH264 && params.codec != media::Codec::kHevc) {
    return makeError(ErrorCode::kBadConfig, "video codec {} ({}) is not H.264 or HEVC",
                     media::codecName(params.codec), static_cast<uint32_t>(params.codec));
  }
  return {};
}

size_t datagramSize(const VideoParams& params) {
  return params.packet_size + kVideoRtpHeaderSize + (params.encrypt ? kVideoEncryptionPrefix : 0);
}

Result<VideoFramePlan> planVideoFrame(size_t payload_bytes, const VideoParams& params) {
  const size_t chunk = params.packet_size - kVideoNvHeaderSize;
  const uint32_t packets = ceilDiv(std::max<size_t>(payload_bytes, 1), chunk);
  uint32_t pct = params.fec_percent;
  const uint32_t max_data_per_block =
      static_cast<uint32_t>(ReedSolomon::kMaxTotalShards) * 100 / (100 + pct);
  uint32_t blocks = ceilDiv(packets, max_data_per_block);
  if (blocks > kMaxVideoFecBlocks) {
    pct = 0;  // too large for FEC (Sunshine does the same): 4 blocks without parity
    blocks = kMaxVideoFecBlocks;
  }
  const uint32_t per_block = ceilDiv(packets, blocks);
  blocks = ceilDiv(packets, per_block);  // even split: no block is left empty
  if (per_block > kMaxVideoShardsPerBlock) {
    return makeError(
        "video frame of {} bytes needs {} packets of {} bytes: more than {} blocks "
        "of {} fit",
        payload_bytes, packets, params.packet_size, kMaxVideoFecBlocks, kMaxVideoShardsPerBlock);
  }
  VideoFramePlan plan;
  plan.blocks = blocks;
  for (uint32_t b = 0; b < blocks; ++b) {
    const uint32_t data = std::min(per_block, packets - b * per_block);
    plan.block[b] = planBlock(data, pct, params.min_fec_packets);
  }
  return plan;
}

VideoPacketizer::VideoPacketizer(const VideoParams& params) : params_(params) {}
VideoPacketizer::VideoPacketizer(VideoPacketizer&&) noexcept = default;
VideoPacketizer& VideoPacketizer::operator=(VideoPacketizer&&) noexcept = default;
VideoPacketizer::~VideoPacketizer() = default;

Result<VideoPacketizer> VideoPacketizer::create(const VideoParams& params) {
  if (auto ok = checkVideoParams(params); !ok) return ok.error();
  VideoPacketizer packetizer(params);
  if (params.encrypt) {
    packetizer.cipher_ = std::make_unique<Cipher>();
    packetizer.cipher_->ctx = EVP_CIPHER_CTX_new();
    if (packetizer.cipher_->ctx == nullptr ||
        EVP_EncryptInit_ex(packetizer.cipher_->ctx, EVP_aes_128_gcm(), nullptr, params.key.data(),
                           nullptr) != 1) {
      return makeError("video AES-128-GCM context setup failed");
    }
  }
  return packetizer;
}

size_t VideoPacketizer::datagramSize() const { return gamestream::datagramSize(params_); }

Result<size_t> VideoPacketizer::packetizeFrame(const VideoFrameIn& frame,
                                               VideoStreamCounters& counters,
                                               std::vector<uint8_t>& out) {
  const media::Codec codec = params_.codec;
  if (frame.access_unit.empty()) return makeError("video access unit is empty");

  // Drop AUD and SEI (and anything irregular) so the IDR slice starts in the first packet; keep
  // the access unit as it is when there is nothing to drop.
  const media::SplitIrregularity irregular = media::splitAnnexB(frame.access_unit, nals_);
  if (nals_.empty()) return makeError("video access unit has no Annex-B start code");
  const bool strip = irregular.leading_bytes > 0 || irregular.empty_units > 0 ||
                     std::any_of(nals_.begin(), nals_.end(), [&](media::NalUnit nal) {
                       return media::isAccessUnitDelimiter(codec, nal) || isSei(codec, nal);
                     });
  std::span<const uint8_t> body = frame.access_unit;
  if (strip) {
    stripped_.clear();
    for (media::NalUnit nal : nals_) {
      if (media::isAccessUnitDelimiter(codec, nal) || isSei(codec, nal)) continue;
      stripped_.insert(stripped_.end(), std::begin(kStartCode), std::end(kStartCode));
      stripped_.insert(stripped_.end(), nal.begin(), nal.end());
    }
    if (stripped_.empty()) return makeError("video access unit holds only AUD/SEI NAL units");
    body = stripped_;
  }

  const size_t packet_bytes = params_.packet_size + kVideoRtpHeaderSize;  // one FEC shard
  const size_t chunk = params_.packet_size - kVideoNvHeaderSize;
  const size_t total = kVideoFrameHeaderSize + body.size();
  auto plan = planVideoFrame(total, params_);
  if (!plan) return plan.error();

  uint8_t header[kVideoFrameHeaderSize] = {};
  header[0] = kFrameHeaderShort;
  bytes::storeLe<uint16_t>(header + 1, frame.host_latency_100us);
  header[3] = frame.idr ? kFrameTypeIdr : kFrameTypeP;
  const size_t last_len = total % chunk == 0 ? chunk : total % chunk;
  bytes::storeLe<uint16_t>(header + 4, static_cast<uint16_t>(last_len));

  const size_t prefix = cipher_ ? kVideoEncryptionPrefix : 0;
  const size_t stride = prefix + packet_bytes;
  const size_t count = plan->datagrams();
  const size_t base = out.size();
  out.resize(base + count * stride);  // zero-filled: padding and unset fields are 0
  auto packetAt = [&](size_t k) { return out.data() + base + k * stride + prefix; };

  uint32_t seq = counters.next_rtp_seq;
  const uint32_t frame_index = counters.next_frame_index == 0 ? 1 : counters.next_frame_index;
  const uint8_t last_block = static_cast<uint8_t>(plan->blocks - 1);
  size_t pos = 0;  // in (frame header || body)
  size_t k = 0;    // datagram of the frame
  std::array<const uint8_t*, ReedSolomon::kMaxTotalShards> data_ptrs{};
  std::array<uint8_t*, ReedSolomon::kMaxTotalShards> parity_ptrs{};

  for (uint32_t b = 0; b < plan->blocks; ++b) {
    const VideoBlockPlan& block = plan->block[b];
    // Data shards as the parity covers them: the fields the client restores after a recovery
    // (RTP header, frameIndex, multiFecBlocks) and fecInfo stay 0 until the parity is done.
    for (uint32_t i = 0; i < block.data_shards; ++i) {
      uint8_t* p = packetAt(k + i);
      bytes::storeLe<uint32_t>(p + kOffStreamPacketIndex, (seq + i) << 8);
      uint8_t flags = kVideoFlagPicData;
      if (i == 0) flags |= kVideoFlagSof;
      if (i + 1 == block.data_shards) flags |= kVideoFlagEof;
      p[kOffFlags] = flags;
      p[kOffMultiFecFlags] = kVideoMultiFecFlags;
      const size_t n = std::min(chunk, total - pos);
      copyStream(p + kOffPayload, pos, n, std::span(header), body);
      pos += n;
    }
    if (block.parity_shards > 0) {
      auto rs = ReedSolomon::create(static_cast<int>(block.data_shards),
                                    static_cast<int>(block.parity_shards));
      if (!rs) std::abort();  // broken invariant: planBlock keeps within the code's limits
      for (uint32_t i = 0; i < block.data_shards; ++i) data_ptrs[i] = packetAt(k + i);
      for (uint32_t j = 0; j < block.parity_shards; ++j) {
        parity_ptrs[j] = packetAt(k + block.data_shards + j);
      }
      rs->encode(std::span(data_ptrs.data(), block.data_shards),
                 std::span(parity_ptrs.data(), block.parity_shards), packet_bytes);
    }
    // The wire fields of every shard. A parity shard keeps its computed bytes elsewhere
    // (streamPacketIndex, flags and multiFecFlags of a parity packet are parity, as Sunshine's).
    const uint32_t shards = block.data_shards + block.parity_shards;
    for (uint32_t x = 0; x < shards; ++x) {
      uint8_t* p = packetAt(k + x);
      p[0] = kRtpVersionWithExtension;
      p[1] = 0;  // payload type
      bytes::storeBe<uint16_t>(p + kOffSeq, static_cast<uint16_t>(seq + x));
      bytes::storeBe<uint32_t>(p + kOffTimestamp, frame.rtp_timestamp);
      std::memset(p + 8, 0, 8);  // SSRC and the reserved extension word
      bytes::storeLe<uint32_t>(p + kOffFrameIndex, frame_index);
      p[kOffMultiFecBlocks] = static_cast<uint8_t>(b << 4 | last_block << 6);
      bytes::storeLe<uint32_t>(p + kOffFecInfo,
                               block.data_shards << 22 | x << 12 | block.fec_percent << 4);
    }
    seq += shards;
    k += shards;
  }

  uint64_t iv_counter = counters.next_iv;
  if (cipher_) {
    EVP_CIPHER_CTX* ctx = cipher_->ctx;
    for (size_t d = 0; d < count; ++d) {
      uint8_t* slot = out.data() + base + d * stride;
      bytes::storeLe<uint64_t>(slot, iv_counter++);  // IV bytes 0..7; 8..10 stay 0
      slot[11] = kIvFixedField;
      bytes::storeLe<uint32_t>(slot + 12, frame_index);
      uint8_t* packet = slot + prefix;
      int len = 0;
      int final_len = 0;
      if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, slot) != 1 ||
          EVP_EncryptUpdate(ctx, packet, &len, packet, static_cast<int>(packet_bytes)) != 1 ||
          EVP_EncryptFinal_ex(ctx, packet + len, &final_len) != 1 ||
          EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, slot + 16) != 1) {
        out.resize(base);
        return makeError("video AES-128-GCM encryption failed");
      }
    }
  }

  counters.next_rtp_seq = seq;
  counters.next_frame_index = frame_index + 1 == 0 ? 1 : frame_index + 1;
  counters.next_iv = iv_counter;
  return count;
}

Result<size_t> packetizeFrame(const VideoFrameIn& frame, const VideoParams& params,
                              VideoStreamCounters& counters, std::vector<uint8_t>& out) {
  auto packetizer = VideoPacketizer::create(params);
  if (!packetizer) return packetizer.error();
  return packetizer->packetizeFrame(frame, counters, out);
}

}  // namespace funkhaus::net::gamestream
