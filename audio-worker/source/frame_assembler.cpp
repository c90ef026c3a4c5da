// FrameAssembler: fixed-size frames and their capture times from variable chunks.
#include "funkhaus/audio/frame_assembler.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace funkhaus::audio {

FrameAssembler::FrameAssembler(int channels, int frame_samples, int sample_rate, size_t max_queued,
                               int64_t tolerance_ns)
    : channels_(channels),
      frame_samples_(frame_samples),
      sample_rate_(sample_rate),
      max_queued_(std::max<size_t>(max_queued, 1)),
      tolerance_ns_(tolerance_ns) {
  if (channels <= 0 || frame_samples <= 0 || sample_rate <= 0) std::abort();  // caller's bug
  current_.samples.resize(static_cast<size_t>(frame_samples) * channels);
}

uint64_t FrameAssembler::timeOfSample(uint64_t index) const {
  const double offset =
      (static_cast<double>(index) - static_cast<double>(anchor_index_)) * 1e9 / sample_rate_;
  return static_cast<uint64_t>(std::llround(anchor_ns_ + offset));
}

void FrameAssembler::stamp(size_t count, uint64_t first_ns, bool measured) {
  if (count == 0) return;
  if (!anchored_) {
    anchored_ = true;
    anchor_index_ = samples_in_;
    anchor_ns_ = static_cast<double>(first_ns);
    return;
  }
  if (!measured) return;
  const double error =
      static_cast<double>(first_ns) - static_cast<double>(timeOfSample(samples_in_));
  if (std::abs(error) > static_cast<double>(tolerance_ns_)) {
    anchor_index_ = samples_in_;
    anchor_ns_ = static_cast<double>(first_ns);
    ++stats_.reanchors;
  } else {
    anchor_ns_ += error / 16;
  }
}

void FrameAssembler::push(const float* samples, size_t count, uint64_t first_ns, bool measured) {
  stamp(count, first_ns, measured);
  pending_.insert(pending_.end(), samples, samples + count * channels_);
  samples_in_ += count;
  dropOverflow();
}

void FrameAssembler::pushHole(size_t count, uint64_t first_ns, bool measured) {
  stamp(count, first_ns, measured);
  pending_.insert(pending_.end(), count * channels_, 0.0f);
  samples_in_ += count;
  stats_.hole_samples += count;
  if (discontinuity_at_ == kNone) discontinuity_at_ = samples_in_ - count;
  dropOverflow();
}

size_t FrameAssembler::queuedFrames() const {
  return (pending_.size() / channels_ - pending_offset_) / frame_samples_;
}

void FrameAssembler::dropOverflow() {
  const size_t queued = queuedFrames();
  if (queued <= max_queued_) return;
  const size_t drop = queued - max_queued_;
  pending_offset_ += drop * frame_samples_;
  pending_start_ += drop * frame_samples_;
  stats_.dropped_frames += drop;
  if (discontinuity_at_ == kNone || discontinuity_at_ < pending_start_) {
    discontinuity_at_ = pending_start_;
  }
  pending_.erase(pending_.begin(), pending_.begin() + pending_offset_ * channels_);
  pending_offset_ = 0;
}

const CapturedFrame* FrameAssembler::next() {
  if (queuedFrames() == 0) {
    // Keep the buffer from growing: move the partial frame to the front.
    if (pending_offset_ > 0) {
      pending_.erase(pending_.begin(), pending_.begin() + pending_offset_ * channels_);
      pending_offset_ = 0;
    }
    return nullptr;
  }
  const size_t values = static_cast<size_t>(frame_samples_) * channels_;
  const auto first = pending_.begin() + static_cast<ptrdiff_t>(pending_offset_ * channels_);
  std::copy(first, first + static_cast<ptrdiff_t>(values), current_.samples.begin());
  current_.capture_ns = timeOfSample(pending_start_);
  current_.sequence = sequence_++;
  current_.discontinuity =
      discontinuity_at_ != kNone && discontinuity_at_ < pending_start_ + frame_samples_;
  if (current_.discontinuity) discontinuity_at_ = kNone;
  pending_offset_ += frame_samples_;
  pending_start_ += frame_samples_;
  ++stats_.frames;
  return &current_;
}

}  // namespace funkhaus::audio
