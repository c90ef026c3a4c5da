// FrameAssembler: cuts the chunks a sound server delivers (any size) into frames of exactly N
// samples per channel, each with the CLOCK_MONOTONIC time its first sample was captured. Pure
// logic, no libpulse; used on the audio worker's thread by PulseCapture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace funkhaus::audio {

struct CapturedFrame {
  std::vector<float> samples;  // frame_samples x channels, interleaved
  uint64_t capture_ns = 0;     // CLOCK_MONOTONIC time of the first sample
  uint64_t sequence = 0;       // 0, 1, 2, ... in the order frames were made
  bool discontinuity = false;  // samples were lost just before or inside this frame
};

struct AssemblerStats {
  uint64_t frames = 0;          // frames made
  uint64_t dropped_frames = 0;  // oldest frames dropped because nobody took them
  uint64_t hole_samples = 0;    // samples the server said were lost (filled with silence)
  uint64_t reanchors = 0;       // the measured time jumped away from the sample clock
};

class FrameAssembler {
 public:
  // `max_queued` frames wait at most; older ones are dropped (counted) when more arrive.
  // Timestamps follow the sample clock from the first measurement; each new chunk's measured
  // time nudges it (1/16 of the error) and one off by more than `tolerance_ns` re-anchors it.
  FrameAssembler(int channels, int frame_samples, int sample_rate, size_t max_queued = 32,
                 int64_t tolerance_ns = 2'000'000);

  // Appends `count` samples per channel (interleaved) whose first was captured at `first_ns`.
  // measured = false: the time is only a guess (no timing info yet); it anchors the sample clock
  // when nothing did before and is ignored after.
  void push(const float* samples, size_t count, uint64_t first_ns, bool measured = true);
  // Appends `count` samples of silence for samples the server lost; the next frame is marked.
  void pushHole(size_t count, uint64_t first_ns, bool measured = true);

  // The next whole frame, or nullptr. Valid until the next call of next(), push() or pushHole().
  const CapturedFrame* next();
  size_t queuedFrames() const;
  const AssemblerStats& stats() const { return stats_; }

 private:
  void stamp(size_t count, uint64_t first_ns, bool measured);
  uint64_t timeOfSample(uint64_t index) const;
  void dropOverflow();

  const int channels_;
  const int frame_samples_;
  const int sample_rate_;
  const size_t max_queued_;
  const int64_t tolerance_ns_;

  std::vector<float> pending_;  // interleaved samples not yet handed out, from pending_start_
  size_t pending_offset_ = 0;   // samples per channel already handed out from pending_
  uint64_t pending_start_ = 0;  // sample index of pending_[pending_offset_ * channels_]
  uint64_t samples_in_ = 0;     // sample index of the next sample pushed
  bool anchored_ = false;
  uint64_t anchor_index_ = 0;  // the sample clock: sample anchor_index_ was at anchor_ns_
  double anchor_ns_ = 0;
  // The first sample after lost ones, not yet in a frame handed out (kNone: none).
  static constexpr uint64_t kNone = ~uint64_t{0};
  uint64_t discontinuity_at_ = kNone;
  CapturedFrame current_;
  uint64_t sequence_ = 0;
  AssemblerStats stats_;
};

}  // namespace funkhaus::audio
