// Audio for the tests: WAV files (read s16/f32 PCM, plain or WAVE_FORMAT_EXTENSIBLE, any channel
// count; write f32 or s16, whole or streamed) and the measurements the audio tests make on one
// channel: dominant frequency, RMS level in dBFS, where a level is first/last exceeded, silence.
// Test processes only (also compiled into gamestream_probe); no shared state, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::test {

// Interleaved samples in [-1, 1] (s16 is scaled by 1/32768).
struct PcmAudio {
  int sample_rate = 48000;
  int channels = 0;
  std::vector<float> samples;

  size_t frames() const {
    return channels > 0 ? samples.size() / static_cast<size_t>(channels) : 0;
  }
  // Channel `c` (0-based) on its own.
  std::vector<float> channel(int c) const;
};

enum class WavFormat { kFloat32, kS16 };

// Reads a RIFF/WAVE file of 16-bit integer or 32-bit float PCM (format tag 1, 3, or 0xFFFE with
// the PCM or IEEE-float sub-format), any channel count. An error says what is wrong with it. A
// data chunk longer than the file (a writer killed before it patched the sizes, as ffmpeg's
// streaming output leaves it) is read up to the last whole frame.
Result<PcmAudio> readWav(const std::string& path);

// Writes `audio` in one go (s16 clips to [-1, 1) and rounds to nearest).
Result<void> writeWav(const std::string& path, const PcmAudio& audio,
                      WavFormat format = WavFormat::kFloat32);

// A WAV file written while samples arrive: the header's sizes are patched by close() (and by the
// destructor). One writer thread.
class WavWriter {
 public:
  WavWriter() = default;
  ~WavWriter();
  WavWriter(const WavWriter&) = delete;
  WavWriter& operator=(const WavWriter&) = delete;

  Result<void> open(const std::string& path, int sample_rate, int channels,
                    WavFormat format = WavFormat::kFloat32);
  // Appends whole frames (`interleaved.size()` a multiple of the channel count).
  Result<void> append(std::span<const float> interleaved);
  Result<void> close();
  bool isOpen() const { return file_ != nullptr; }
  uint64_t framesWritten() const { return frames_; }

 private:
  std::FILE* file_ = nullptr;
  int sample_rate_ = 0;
  int channels_ = 0;
  WavFormat format_ = WavFormat::kFloat32;
  uint64_t frames_ = 0;
};

// The level reported for digital silence (all zero): a floor instead of -infinity.
inline constexpr double kSilenceDbfs = -200.0;

// RMS level in dBFS, 0 dBFS being an RMS of 1.0 (a full-scale sine is -3.01 dBFS, a square wave
// of amplitude 1 is 0 dBFS). kSilenceDbfs for an empty span or all zeros.
double rmsDbfs(std::span<const float> x);
// The largest |sample| in dBFS (1.0 = 0 dBFS); kSilenceDbfs for an empty span or all zeros.
double peakDbfs(std::span<const float> x);

// The RMS level in dBFS of a sine of peak `amplitude`.
double sineDbfs(double amplitude);

// The magnitude of `x` (Hann-windowed) at `hz`, normalised so a sine of amplitude A whose
// frequency is `hz` gives A (within the window's scalloping when the span holds no whole number
// of periods). Works at any frequency, not only DFT bins.
double toneAmplitude(std::span<const float> x, double hz, int sample_rate);

// The frequency with the largest magnitude between min_hz and max_hz (default: up to Nyquist):
// a DFT over the middle of `x` (at most kDominantWindow samples, Hann window) scanned at its bin
// spacing, refined by parabolic interpolation of the log magnitudes. Accurate to well under a
// bin (sample_rate / window) for a clean tone. nullopt when `x` has fewer than 64 samples or no
// energy in the range.
inline constexpr size_t kDominantWindow = 9600;  // 200 ms at 48 kHz: 5 Hz bins
std::optional<double> dominantFrequency(std::span<const float> x, int sample_rate,
                                        double min_hz = 20.0, double max_hz = 0.0);

// The first (last) sample index whose |sample| exceeds `threshold_dbfs` (1.0 = 0 dBFS), at or
// after `from` (before `to`, default the end); nullopt if none does.
std::optional<size_t> firstSampleAbove(std::span<const float> x, double threshold_dbfs,
                                       size_t from = 0);
std::optional<size_t> lastSampleAbove(std::span<const float> x, double threshold_dbfs,
                                      size_t to = SIZE_MAX);

// Whether every sample of x[from, to) stays at or below `max_dbfs` (peak). An empty span is
// silent; `to` is clamped to the end.
bool isSilent(std::span<const float> x, size_t from, size_t to, double max_dbfs);

// A tone found in one channel: where it starts and ends (first/last sample above the threshold)
// and, over its middle (a tenth trimmed off each end, away from the ramps), its dominant
// frequency and RMS level.
struct ToneSpan {
  size_t start = 0;  // first sample above the threshold
  size_t end = 0;    // one past the last sample above it
  double dominant_hz = 0;
  double level_dbfs = kSilenceDbfs;
};
std::optional<ToneSpan> findTone(std::span<const float> x, int sample_rate, double threshold_dbfs);

}  // namespace funkhaus::test
