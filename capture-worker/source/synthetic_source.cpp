// The synthetic source: SyntheticPattern drawn straight into the ring slot.
#include <spdlog/spdlog.h>

#include <optional>

#include "funkhaus/abi/token.h"
#include "funkhaus/capture/synthetic_pattern.h"
#include "sources.h"

namespace funkhaus::capture {

namespace {

class SyntheticSource : public CaptureSource {
 public:
  SyntheticSource(SyntheticPattern pattern, uint32_t sync_flash_ms)
      : pattern_(std::move(pattern)), flash_period_ns_(uint64_t{sync_flash_ms} * 1'000'000) {}

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
    if (flash_period_ns_ == 0) {
      pattern_.render({frame_number, capture_ns}, slot->payload.data());
    } else {
      const bool flash = isSyncFlash(previous_ns_, capture_ns, flash_period_ns_);
      pattern_.renderFlat({frame_number, capture_ns}, flash ? kSyncFlashLuma : kSyncDarkLuma,
                          slot->payload.data());
    }
    previous_ns_ = capture_ns;
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
  uint64_t flash_period_ns_;             // 0: the moving pattern
  std::optional<uint64_t> previous_ns_;  // the capture time of the last frame rendered
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
  spdlog::info("synthetic source: {}x{} I420, {} bytes per frame{}", config.width, config.height,
               pattern->frameBytes(),
               config.sync_flash_ms == 0
                   ? ""
                   : fmt::format(", A/V sync flash every {} ms", config.sync_flash_ms));
  return std::unique_ptr<CaptureSource>(
      new SyntheticSource(std::move(*pattern), config.sync_flash_ms));
}

}  // namespace funkhaus::capture
