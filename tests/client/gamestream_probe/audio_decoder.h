// AudioDecoder: gamestream_probe's Opus decoder (libopus multistream, as moonlight-common-c's
// OPUS_MULTISTREAM_CONFIGURATION describes the host's stream), which can also write what it
// decodes to a WAV file. moonlight-common-c's audio receive thread only (the renderer's init and
// decodeAndPlaySample; the probe's main thread closes it after the stream stopped).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/test/audio_analysis.h"

struct OpusMSDecoder;

namespace funkhaus::probe {

// The host's Opus layout as the library hands it over (channels in the order FL FR C LFE BL BR
// SL SR, which is also WAV's order for these layouts).
struct OpusLayout {
  int sample_rate = 48000;
  int channels = 2;
  int streams = 1;
  int coupled_streams = 1;
  int samples_per_frame = 240;
  std::array<unsigned char, 8> mapping{};
};

class AudioDecoder {
 public:
  // A decoder for `layout`; with a non-empty `wav_path` every decoded sample is also written
  // there (32-bit float, the layout's channel count and rate).
  static Result<std::unique_ptr<AudioDecoder>> create(const OpusLayout& layout,
                                                      const std::string& wav_path);
  ~AudioDecoder();
  AudioDecoder(const AudioDecoder&) = delete;
  AudioDecoder& operator=(const AudioDecoder&) = delete;

  // Decodes one packet (nullptr/0: a lost one, concealed by libopus for one frame's duration)
  // and returns the number of samples per channel it gave.
  Result<int> decode(const unsigned char* data, int length);
  // Finishes the WAV file (if any).
  Result<void> close();

  const OpusLayout& layout() const { return layout_; }
  uint64_t samplesDecoded() const { return samples_; }

 private:
  AudioDecoder() = default;

  OpusLayout layout_;
  OpusMSDecoder* decoder_ = nullptr;
  std::vector<float> pcm_;
  test::WavWriter wav_;
  uint64_t samples_ = 0;
};

}  // namespace funkhaus::probe
