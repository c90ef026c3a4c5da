// The synthetic source: SyntheticPattern drawn straight into the ring slot.
#include <spdlog/spdlog.h>

#include "funkhaus/abi/token.h"
#include "funkhaus/capture/synthetic_pattern.h"
#include "sources.h"

namespace funkhaus::capture {

namespace {

class SyntheticSource : public CaptureSource {
 public:
  explicit SyntheticSource(SyntheticPattern pattern) : pattern_(std::move(pattern)) {}

  Result<CaptureOutcome> capture(FrameProducer& producer, uint64_t frame_number,
                                 uint64_t capture_ns) override {
    CaptureOutcome outcome;
    auto changed = ensureMode(producer, pattern_.geometry());
    if (!changed) return changed.error();  // create() checked the capacity: not expected
    if (*changed) outcome.new_mode = pattern_.geometry();
    auto slot = producer.beginFrame();
    if (!slot) {
      outcome.kind = CaptureOutcome::Kind::kDropped;
      return outcome;
    }
    pattern_.render({frame_number, capture_ns}, slot->payload.data());
    FrameMeta meta;
    meta.capture_time_ns = capture_ns;
    meta.payload_size = pattern_.frameBytes();
    meta.geometry = pattern_.geometry();
    meta.colour = abi::ColourSpace::kBt709Limited;  // the pattern's samples are limited range
    if (producer.publish(*slot, meta) == abi::kNoToken) {
      outcome.kind = CaptureOutcome::Kind::kDropped;
      return outcome;
    }
    outcome.kind = CaptureOutcome::Kind::kPublished;
    outcome.bytes = pattern_.frameBytes();
    return outcome;
  }

  const char* name() const override { return "synthetic"; }

 private:
  SyntheticPattern pattern_;
};

}  // namespace

Result<std::unique_ptr<CaptureSource>> createSyntheticSource(const SourceConfig& config,
                                                             uint64_t payload_capacity,
                                                             SourceFailure* failure) {
  auto pattern = SyntheticPattern::create(config.width, config.height);
  if (!pattern) {
    *failure = SourceFailure::kBadConfig;
    return makeError("synthetic source: {}", pattern.error().message);
  }
  if (pattern->frameBytes() > payload_capacity) {
    *failure = SourceFailure::kBadConfig;
    return makeError(
        "synthetic source: a {}x{} I420 frame needs {} bytes, the frame ring's slots "
        "hold {}",
        config.width, config.height, pattern->frameBytes(), payload_capacity);
  }
  spdlog::info("synthetic source: {}x{} I420, {} bytes per frame", config.width, config.height,
               pattern->frameBytes());
  return std::unique_ptr<CaptureSource>(new SyntheticSource(std::move(*pattern)));
}

}  // namespace funkhaus::capture
