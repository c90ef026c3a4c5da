// OpusStreamEncoder: one frame of interleaved 48 kHz PCM in, one CBR Opus (multistream) packet
// out, laid out as a GameStream client decodes it. Used on the audio worker's thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "funkhaus/common/result.h"

struct OpusMSEncoder;

namespace funkhaus::audio {

inline constexpr int kSampleRate = 48000;
inline constexpr int kMaxChannels = 8;
// The largest Opus packet GameStream can carry: a datagram is at most 1400 bytes; an encrypted
// payload grows to the next multiple of 16 (PKCS#7) and an FEC packet puts 12 bytes of RTP and
// 12 of FEC header before it, so 1372 bytes still fit (1376 + 24 = 1400).
inline constexpr int kMaxGameStreamPacketBytes = 1372;

// How the channels are coded: `streams` Opus streams of which the first `coupled_streams` are
// stereo. mapping[i] is the coded channel of input channel i, channels in the client's order:
// FL FR C LFE BL BR SL SR (moonlight-common-c's OPUS_MULTISTREAM_CONFIGURATION). A decoder built
// with the same streams, coupled streams and mapping gives the channels back in that order.
struct OpusLayout {
  int channels = 2;
  int streams = 1;
  int coupled_streams = 1;
  std::array<uint8_t, kMaxChannels> mapping{};
};

// The layout funkhaus uses for 2, 6 or 8 channels. Stereo is always one coupled stream (the
// client assumes it). Surround: normal quality pairs FL/FR, BL/BR (and SL/SR) and codes C and
// LFE alone (5.1: 4 streams, 2 coupled; 7.1: 5 streams, 3 coupled; the layout libopus picks for
// these channels); high quality (the client's AudioQuality=1) codes every channel alone.
Result<OpusLayout> gameStreamLayout(int channels, bool high_quality);

// The DESCRIBE value after "a=fmtp:97 surround-params=" that makes a client decode `layout`:
// channels, streams, coupled streams, then the mapping. For normal quality the client expects
// the mapping in GFE's order (FL FR C BL BR SL SR LFE) and moves the last entry to LFE's place,
// so it is written that way; the high-quality line is taken as it is. Stereo has no such line
// (empty string).
std::string surroundParams(const OpusLayout& layout, bool high_quality);

struct OpusConfig {
  int channels = 2;           // 2 (stereo), 6 (5.1) or 8 (7.1)
  int bitrate_bps = 96'000;   // the whole stream; CBR
  int frame_ms = 5;           // 5 (240 samples) or 10 (480 samples): x-nv-aqos.packetDuration
  bool high_quality = false;  // one stream per channel (surround only; stereo is the same)
  int max_packet_bytes = kMaxGameStreamPacketBytes;
};

// Checks a configuration: the channel count, the frame duration, the bitrate against what Opus
// can code (6..510 kb/s per stream) and against max_packet_bytes (bitrate x frame duration).
// Errors are kBadConfig and say what is wrong.
Result<void> validate(const OpusConfig& config);

class OpusStreamEncoder {
 public:
  // A 48 kHz multistream encoder, RESTRICTED_LOWDELAY, CBR, at the layout of gameStreamLayout().
  static Result<OpusStreamEncoder> create(const OpusConfig& config);

  OpusStreamEncoder(OpusStreamEncoder&&) noexcept;
  OpusStreamEncoder& operator=(OpusStreamEncoder&&) noexcept;
  ~OpusStreamEncoder();

  const OpusConfig& config() const { return config_; }
  const OpusLayout& layout() const { return layout_; }
  // Samples per channel in one frame (240 or 480).
  int frameSamples() const { return config_.frame_ms * kSampleRate / 1000; }
  // The size every packet has (CBR): bitrate x frame duration / 8.
  int packetBytes() const { return config_.bitrate_bps * config_.frame_ms / 8000; }

  // Encodes exactly frameSamples() x channels interleaved samples (the layout's channel order)
  // into `out`, which must hold packetBytes(). Returns the packet's size.
  Result<size_t> encode(std::span<const float> pcm, std::span<uint8_t> out);
  Result<size_t> encode(std::span<const int16_t> pcm, std::span<uint8_t> out);

 private:
  struct Free {
    void operator()(OpusMSEncoder* encoder) const;
  };
  OpusStreamEncoder(OpusConfig config, OpusLayout layout, OpusMSEncoder* encoder)
      : config_(config), layout_(layout), encoder_(encoder) {}
  Result<void> checkSizes(size_t samples, size_t out_bytes) const;

  OpusConfig config_;
  OpusLayout layout_;
  std::unique_ptr<OpusMSEncoder, Free> encoder_;
};

}  // namespace funkhaus::audio
