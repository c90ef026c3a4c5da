// The A/V sync click source (see sync_click.h).
#include "funkhaus/audio/sync_click.h"

#include <cmath>
#include <cstdlib>
#include <numbers>

namespace funkhaus::audio {

namespace {

constexpr uint64_t kRate = 48'000;
// Later than this behind the clock, the source skips to now instead of catching up.
constexpr uint64_t kMaxLateNs = 100'000'000;

}  // namespace

// 1e9 / 48000 = 62500 / 3 ns per sample; 128 bits keep n * 62500 exact for any n.
uint64_t sampleTimeNs(uint64_t sample) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(sample) * 62'500 / 3);
}

uint64_t sampleAtOrAfter(uint64_t ns) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(ns) * 3 + 62'499) / 62'500);
}

float syncClickSample(uint64_t sample, uint64_t period_samples) {
  if (period_samples == 0) return 0;
  const uint64_t j = sample % period_samples;
  if (j >= kSyncClickSamples) return 0;
  return static_cast<float>(kSyncClickAmplitude * std::sin(2 * std::numbers::pi * kSyncClickHz *
                                                           static_cast<double>(j) / kRate));
}

SyncClickSource::SyncClickSource(uint32_t period_ms, int channels, int frame_samples,
                                 uint64_t now_ns)
    : period_samples_(uint64_t{period_ms} * kRate / 1000),
      channels_(channels),
      frame_samples_(static_cast<uint64_t>(frame_samples)) {
  if (channels <= 0 || frame_samples <= 0) std::abort();  // the worker's options checked them
  next_frame_ = sampleAtOrAfter(now_ns) / frame_samples_ + 1;
}

bool SyncClickSource::next(uint64_t now_ns, std::span<float> out, Frame* frame) {
  if (out.size() != frame_samples_ * static_cast<uint64_t>(channels_)) std::abort();
  if (now_ns < nextReadyNs()) return false;
  if (now_ns - nextReadyNs() > kMaxLateNs) {
    // Asleep (a stopped process, a starved machine): the frame that ended last is next.
    const auto last_sample =
        static_cast<uint64_t>(static_cast<unsigned __int128>(now_ns) * 3 / 62'500);
    next_frame_ = last_sample / frame_samples_;  // in progress; the one before it has ended
    if (next_frame_ > 0) --next_frame_;
    discontinuity_ = true;
  }
  const uint64_t first = next_frame_ * frame_samples_;
  for (uint64_t i = 0; i < frame_samples_; ++i) {
    const float v = syncClickSample(first + i, period_samples_);
    for (int c = 0; c < channels_; ++c) out[i * static_cast<uint64_t>(channels_) + c] = v;
  }
  frame->capture_ns = sampleTimeNs(first);
  frame->discontinuity = discontinuity_;
  discontinuity_ = false;
  ++next_frame_;
  return true;
}

}  // namespace funkhaus::audio
