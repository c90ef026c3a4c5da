// SyncClick: funkhaus-audio's A/V sync source (`--source sync`): PCM made up instead of recorded,
// silence with a click (5 ms of 1 kHz at -6 dBFS) whose first sample is exactly at each multiple
// of the period on CLOCK_MONOTONIC, the counterpart of the synthetic picture's flash
// (capture::isSyncFlash). Used on the audio worker's main thread; the functions anywhere.
#pragma once

#include <cstdint>
#include <span>

namespace funkhaus::audio {

inline constexpr int kSyncClickHz = 1000;
inline constexpr int kSyncClickSamples = 240;       // 5 ms at 48 kHz
inline constexpr double kSyncClickAmplitude = 0.5;  // -6 dBFS peak

// The 48 kHz sample grid on CLOCK_MONOTONIC: sample n is at n * 1e9 / 48000 ns (rounded down),
// so a whole number of ms is a sample exactly (n = ms * 48).
uint64_t sampleTimeNs(uint64_t sample);
// The first sample at or after `ns`.
uint64_t sampleAtOrAfter(uint64_t ns);

// Sample n of the click pattern with a period of `period_samples` (one channel): the click's
// sine from each multiple of the period on for kSyncClickSamples, else 0.
float syncClickSample(uint64_t sample, uint64_t period_samples);

// The source: frames of `frame_samples` on the grid (frame k holds samples [k*F, (k+1)*F)),
// each ready once its last sample's time has passed, as recorded sound would be, and stamped
// with its first sample's time.
class SyncClickSource {
 public:
  // Starts with the first whole frame after `now_ns`.
  SyncClickSource(uint32_t period_ms, int channels, int frame_samples, uint64_t now_ns);

  // When the next frame is complete (CLOCK_MONOTONIC).
  uint64_t nextReadyNs() const { return sampleTimeNs((next_frame_ + 1) * frame_samples_); }

  struct Frame {
    uint64_t capture_ns = 0;     // the time of its first sample
    bool discontinuity = false;  // frames were skipped (the worker was late by over 100 ms)
  };
  // Fills `out` (frame_samples x channels, interleaved) with the next frame if it is ready at
  // `now_ns`; false if not yet.
  bool next(uint64_t now_ns, std::span<float> out, Frame* frame);

  int channels() const { return channels_; }
  int frameSamples() const { return static_cast<int>(frame_samples_); }

 private:
  uint64_t period_samples_;
  int channels_;
  uint64_t frame_samples_;
  uint64_t next_frame_;
  bool discontinuity_ = true;  // the first frame starts a stream
};

}  // namespace funkhaus::audio
