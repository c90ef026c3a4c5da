// OpusStreamEncoder over libopus' multistream API; the GameStream layouts and their DESCRIBE
// parameters.
#include "funkhaus/audio/opus_stream_encoder.h"

#include <opus_multistream.h>

#include <utility>

namespace funkhaus::audio {

namespace {

constexpr int kMinStreamBitrate = 6'000;    // Opus' lowest
constexpr int kMaxStreamBitrate = 510'000;  // Opus' highest for one stream

}  // namespace

Result<OpusLayout> gameStreamLayout(int channels, bool high_quality) {
  OpusLayout layout;
  layout.channels = channels;
  switch (channels) {
    case 2:
      layout.streams = 1;
      layout.coupled_streams = 1;
      layout.mapping = {0, 1};
      return layout;
    case 6:
      if (high_quality) {
        layout.streams = 6;
        layout.coupled_streams = 0;
        layout.mapping = {0, 1, 2, 3, 4, 5};
      } else {
        // Coded channels: 0 1 = FL FR, 2 3 = BL BR, 4 = C, 5 = LFE.
        layout.streams = 4;
        layout.coupled_streams = 2;
        layout.mapping = {0, 1, 4, 5, 2, 3};
      }
      return layout;
    case 8:
      if (high_quality) {
        layout.streams = 8;
        layout.coupled_streams = 0;
        layout.mapping = {0, 1, 2, 3, 4, 5, 6, 7};
      } else {
        // Coded channels: 0 1 = FL FR, 2 3 = BL BR, 4 5 = SL SR, 6 = C, 7 = LFE.
        layout.streams = 5;
        layout.coupled_streams = 3;
        layout.mapping = {0, 1, 6, 7, 2, 3, 4, 5};
      }
      return layout;
    default:
      return makeError(ErrorCode::kBadConfig,
                       "audio channels must be 2, 6 or 8 (stereo, 5.1, 7.1), not {}", channels);
  }
}

std::string surroundParams(const OpusLayout& layout, bool high_quality) {
  if (layout.channels <= 2) return "";
  std::string params =
      fmt::format("{}{}{}", layout.channels, layout.streams, layout.coupled_streams);
  const int n = layout.channels;
  std::array<uint8_t, kMaxChannels> written{};
  if (high_quality) {
    written = layout.mapping;
  } else {
    // The client reads GFE's order: it puts the last entry at LFE (3) and slides 3..n-2 up one.
    for (int i = 0; i < 3; ++i) written[i] = layout.mapping[i];
    for (int i = 4; i < n; ++i) written[i - 1] = layout.mapping[i];
    written[n - 1] = layout.mapping[3];
  }
  for (int i = 0; i < n; ++i) params += static_cast<char>('0' + written[i]);
  return params;
}

Result<void> validate(const OpusConfig& config) {
  auto layout = gameStreamLayout(config.channels, config.high_quality);
  if (!layout) return layout.error();
  if (config.frame_ms != 5 && config.frame_ms != 10) {
    return makeError(ErrorCode::kBadConfig, "audio frame duration must be 5 or 10 ms, not {} ms",
                     config.frame_ms);
  }
  const int streams = layout->streams;
  const int64_t low = int64_t{kMinStreamBitrate} * streams;
  const int64_t high = int64_t{kMaxStreamBitrate} * streams;
  if (config.bitrate_bps < low || config.bitrate_bps > high) {
    return makeError(ErrorCode::kBadConfig,
                     "audio bitrate {} b/s is outside what Opus codes for {} channels in {} "
                     "streams ({}..{} b/s)",
                     config.bitrate_bps, config.channels, streams, low, high);
  }
  const int64_t packet = int64_t{config.bitrate_bps} * config.frame_ms / 8000;
  if (packet > config.max_packet_bytes) {
    return makeError(ErrorCode::kBadConfig,
                     "audio bitrate {} b/s at {} ms makes {}-byte packets, more than the {} "
                     "bytes a packet may carry (lower the bitrate or use 5 ms frames)",
                     config.bitrate_bps, config.frame_ms, packet, config.max_packet_bytes);
  }
  return {};
}

void OpusStreamEncoder::Free::operator()(OpusMSEncoder* encoder) const {
  opus_multistream_encoder_destroy(encoder);
}

Result<OpusStreamEncoder> OpusStreamEncoder::create(const OpusConfig& config) {
  if (auto valid = validate(config); !valid) return valid.error();
  auto layout = gameStreamLayout(config.channels, config.high_quality);
  if (!layout) return layout.error();
  int error = OPUS_OK;
  OpusMSEncoder* encoder = opus_multistream_encoder_create(
      kSampleRate, layout->channels, layout->streams, layout->coupled_streams,
      layout->mapping.data(), OPUS_APPLICATION_RESTRICTED_LOWDELAY, &error);
  if (encoder == nullptr || error != OPUS_OK) {
    return makeError(ErrorCode::kFailure, "opus_multistream_encoder_create({} channels): {}",
                     config.channels, opus_strerror(error));
  }
  OpusStreamEncoder result(config, *layout, encoder);
  const int set[] = {
      opus_multistream_encoder_ctl(encoder, OPUS_SET_VBR(0)),
      opus_multistream_encoder_ctl(encoder, OPUS_SET_BITRATE(config.bitrate_bps)),
  };
  for (int status : set) {
    if (status != OPUS_OK) {
      return makeError(ErrorCode::kFailure, "configuring the Opus encoder: {}",
                       opus_strerror(status));
    }
  }
  return result;
}

OpusStreamEncoder::OpusStreamEncoder(OpusStreamEncoder&&) noexcept = default;
OpusStreamEncoder& OpusStreamEncoder::operator=(OpusStreamEncoder&&) noexcept = default;
OpusStreamEncoder::~OpusStreamEncoder() = default;

Result<void> OpusStreamEncoder::checkSizes(size_t samples, size_t out_bytes) const {
  const size_t expected = static_cast<size_t>(frameSamples()) * config_.channels;
  if (samples != expected) {
    return makeError("an audio frame must have {} samples ({} per channel x {}), not {}", expected,
                     frameSamples(), config_.channels, samples);
  }
  if (out_bytes < static_cast<size_t>(packetBytes())) {
    return makeError("an Opus packet needs {} bytes, the buffer has {}", packetBytes(), out_bytes);
  }
  return {};
}

Result<size_t> OpusStreamEncoder::encode(std::span<const float> pcm, std::span<uint8_t> out) {
  if (auto ok = checkSizes(pcm.size(), out.size()); !ok) return ok.error();
  const int bytes = opus_multistream_encode_float(encoder_.get(), pcm.data(), frameSamples(),
                                                  out.data(), static_cast<opus_int32>(out.size()));
  if (bytes < 0) return makeError("opus_multistream_encode_float: {}", opus_strerror(bytes));
  return static_cast<size_t>(bytes);
}

Result<size_t> OpusStreamEncoder::encode(std::span<const int16_t> pcm, std::span<uint8_t> out) {
  if (auto ok = checkSizes(pcm.size(), out.size()); !ok) return ok.error();
  const int bytes = opus_multistream_encode(encoder_.get(), pcm.data(), frameSamples(), out.data(),
                                            static_cast<opus_int32>(out.size()));
  if (bytes < 0) return makeError("opus_multistream_encode: {}", opus_strerror(bytes));
  return static_cast<size_t>(bytes);
}

}  // namespace funkhaus::audio
