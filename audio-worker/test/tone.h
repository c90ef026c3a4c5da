// Tone helpers for the audio tests: sine synthesis, Goertzel power, zero-crossing frequency,
// RMS level in dBFS, and a libopus multistream decoder (the client's side). Test thread only.
#pragma once

#include <opus_multistream.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <numbers>
#include <span>
#include <vector>

#include "funkhaus/audio/opus_stream_encoder.h"

namespace funkhaus::audio::test {

// One channel of interleaved samples.
inline std::vector<float> channelOf(std::span<const float> interleaved, int channels, int c) {
  std::vector<float> out;
  out.reserve(interleaved.size() / channels);
  for (size_t i = static_cast<size_t>(c); i < interleaved.size(); i += channels) {
    out.push_back(interleaved[i]);
  }
  return out;
}

// Power of `frequency` in `x` (Goertzel), normalised so a sine of amplitude A gives A^2 / 4.
inline double goertzel(std::span<const float> x, double frequency, int rate = kSampleRate) {
  const double w = 2 * std::numbers::pi * frequency / rate;
  const double coeff = 2 * std::cos(w);
  double s1 = 0, s2 = 0;
  for (float v : x) {
    const double s = v + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  const double power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  const double n = static_cast<double>(x.size());
  return power / (n * n);
}

// Frequency from zero crossings (rising ones, interpolated) over `x`.
inline double zeroCrossingFrequency(std::span<const float> x, int rate = kSampleRate) {
  double first = -1, last = -1;
  int crossings = 0;
  for (size_t i = 1; i < x.size(); ++i) {
    if (x[i - 1] < 0 && x[i] >= 0) {
      const double t = static_cast<double>(i - 1) + x[i - 1] / (x[i - 1] - x[i]);
      if (first < 0) first = t;
      last = t;
      ++crossings;
    }
  }
  if (crossings < 2) return 0;
  return (crossings - 1) * rate / (last - first);
}

inline double rmsDbfs(std::span<const float> x) {
  double sum = 0;
  for (float v : x) sum += double{v} * v;
  const double rms = std::sqrt(sum / std::max<size_t>(x.size(), 1));
  return 20 * std::log10(std::max(rms, 1e-12));
}

// The RMS in dBFS of a sine of amplitude `amplitude`.
inline double sineDbfs(double amplitude) { return 20 * std::log10(amplitude / std::sqrt(2.0)); }

// Interleaved frames of per-channel sines, continuing from sample `start`.
inline std::vector<float> sines(std::span<const double> frequencies, double amplitude,
                                size_t samples, uint64_t start) {
  const size_t channels = frequencies.size();
  std::vector<float> out(samples * channels);
  for (size_t i = 0; i < samples; ++i) {
    const double t = static_cast<double>(start + i) / kSampleRate;
    for (size_t c = 0; c < channels; ++c) {
      out[i * channels + c] =
          static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * frequencies[c] * t));
    }
  }
  return out;
}

// A distinct tone per channel; channel 0 is 1 kHz. Far apart and not harmonics of each other.
inline std::vector<double> channelTones(int channels) {
  static constexpr double kTones[] = {1000, 1370, 590, 230, 2110, 2790, 3330, 1730};
  return std::vector<double>(kTones, kTones + channels);
}

class Decoder {
 public:
  explicit Decoder(const OpusLayout& layout) : channels_(layout.channels) {
    int error = 0;
    decoder_.reset(opus_multistream_decoder_create(kSampleRate, layout.channels, layout.streams,
                                                   layout.coupled_streams, layout.mapping.data(),
                                                   &error));
  }
  bool ok() const { return decoder_ != nullptr; }
  // Decodes one packet; appends its samples (interleaved) to `out`. The sample count or < 0.
  int decode(std::span<const uint8_t> packet, std::vector<float>& out) {
    std::vector<float> pcm(static_cast<size_t>(5760) * channels_);
    const int n = opus_multistream_decode_float(
        decoder_.get(), packet.data(), static_cast<int32_t>(packet.size()), pcm.data(), 5760, 0);
    if (n > 0) out.insert(out.end(), pcm.begin(), pcm.begin() + n * channels_);
    return n;
  }

 private:
  struct Free {
    void operator()(OpusMSDecoder* d) const { opus_multistream_decoder_destroy(d); }
  };
  int channels_;
  std::unique_ptr<OpusMSDecoder, Free> decoder_;
};

// What the tone checks found in one channel.
struct ToneCheck {
  double own_power_db = 0;    // Goertzel power at the channel's tone (dB)
  double other_power_db = 0;  // the strongest of the other channels' tones (dB)
  double zero_crossing_hz = 0;
  double level_dbfs = 0;
};

inline ToneCheck checkTone(std::span<const float> x, int channel, int channels) {
  const auto tones = channelTones(channels);
  ToneCheck check;
  check.own_power_db = 10 * std::log10(goertzel(x, tones[channel]) + 1e-20);
  check.other_power_db = -400;
  for (int c = 0; c < channels; ++c) {
    if (c == channel) continue;
    check.other_power_db =
        std::max(check.other_power_db, 10 * std::log10(goertzel(x, tones[c]) + 1e-20));
  }
  check.zero_crossing_hz = zeroCrossingFrequency(x);
  check.level_dbfs = rmsDbfs(x);
  return check;
}

// For audio that went through a real sound server, where a starved player can leave a gap: the
// median over `block`-sample blocks of the zero-crossing frequency and of the level.
inline ToneCheck checkToneMedian(std::span<const float> x, int channel, int channels,
                                 size_t block = kSampleRate / 20) {
  ToneCheck whole = checkTone(x, channel, channels);
  std::vector<double> hz, level;
  for (size_t at = 0; at + block <= x.size(); at += block) {
    hz.push_back(zeroCrossingFrequency(x.subspan(at, block)));
    level.push_back(rmsDbfs(x.subspan(at, block)));
  }
  if (hz.empty()) return whole;
  std::sort(hz.begin(), hz.end());
  std::sort(level.begin(), level.end());
  whole.zero_crossing_hz = hz[hz.size() / 2];
  whole.level_dbfs = level[level.size() / 2];
  return whole;
}

}  // namespace funkhaus::audio::test
