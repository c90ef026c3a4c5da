// The vdisplay source: frames of funkhaus-vdisplay's driver ring (BGRX, one per grab or repeat
// at the monitor's refresh), converted once to I420 into the frame ring; a repeat of the picture
// converted last is forwarded as a repeat (no conversion, no copy). While the driver
// gives no frame for kFallbackAfterNs (not started yet, restarting, gone), the next source
// (X11 if $DISPLAY works, else synthetic) fills in, so viewers never get a black stream; the
// driver's frames take over again as soon as they come.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "funkhaus/abi/token.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/media/colour.h"
#include "sources.h"

namespace funkhaus::capture {

namespace {

constexpr uint64_t kFallbackAfterNs = 2'000'000'000;

class VdisplaySource : public CaptureSource {
 public:
  VdisplaySource(const SourceConfig& config, uint64_t capacity, FrameConsumer input,
                 std::unique_ptr<CaptureSource> fallback)
      : config_(config),
        capacity_(capacity),
        input_(std::move(input)),
        fallback_(std::move(fallback)),
        opened_ns_(monotonicNs()) {}

  ~VdisplaySource() override {
    if (held_) input_.release(*held_);
  }

  void setFps(uint32_t fps) override {
    config_.fps = fps;
    if (fallback_) fallback_->setFps(fps);
  }

  bool waitForFrame(uint64_t until_ns) override {
    if (held_) return true;
    const uint64_t now = monotonicNs();
    FrameConsumer::Frame frame;
    const auto status =
        input_.acquireLatest(until_ns > now ? static_cast<int64_t>(until_ns - now) : 0, &frame);
    if (status == FrameConsumer::Status::kFrame) {
      held_ = frame;
      taken_ns_ = monotonicNs();
      return true;
    }
    if (status == FrameConsumer::Status::kProducerGone)
      spdlog::warn("vdisplay: the driver's ring lost its producer; repeating until it is back");
    return false;
  }

  Result<CaptureOutcome> capture(FrameProducer& producer, uint64_t frame_number,
                                 uint64_t capture_ns) override {
    if (!held_) (void)waitForFrame(0);
    const uint64_t now = monotonicNs();
    if (!held_) {
      const uint64_t since = last_frame_ns_ != 0 ? last_frame_ns_ : opened_ns_;
      if (fallback_ && now - since >= kFallbackAfterNs) {
        if (!using_fallback_) {
          spdlog::warn("vdisplay: no frame from the virtual display for {} ms: {} fills in",
                       (now - since) / 1'000'000, fallback_->name());
          using_fallback_ = true;
        }
        converted_content_ = abi::kNoToken;  // the ring's last picture is the fallback's now
        return fallback_->capture(producer, frame_number, capture_ns);
      }
      CaptureOutcome outcome;
      // The driver repeats at the monitor's refresh itself: only a stalled driver (restarting,
      // no monitor yet) makes capture repeat, so the stream keeps its rate.
      const uint64_t interval = 1'000'000'000 / std::max<uint32_t>(config_.fps, 1);
      if (last_frame_ns_ != 0 && now - last_frame_ns_ < 2 * interval) {
        outcome.kind = CaptureOutcome::Kind::kNothing;
        return outcome;
      }
      auto repeated = producer.repeatLast(capture_ns);
      outcome.kind = repeated && *repeated != abi::kNoToken ? CaptureOutcome::Kind::kRepeated
                                                            : CaptureOutcome::Kind::kDropped;
      return outcome;
    }
    if (using_fallback_) {
      spdlog::info("vdisplay: frames from the virtual display again");
      using_fallback_ = false;
    }
    const FrameConsumer::Frame frame = *held_;
    held_.reset();
    last_frame_ns_ = now;
    // The driver repeats the picture we converted last: forward the repeat, converting and
    // copying nothing (the frame ring's repeatLast re-publishes or flags, see frame_ring.h).
    if ((frame.flags & abi::kSlotFlagRepeat) != 0 && frame.content_token == converted_content_ &&
        producer.canRepeat()) {
      input_.release(frame);
      CaptureOutcome outcome;
      outcome.capture_ns = frame.capture_time_ns;
      auto repeated = producer.repeatLast(frame.capture_time_ns);
      outcome.kind = repeated && *repeated != abi::kNoToken ? CaptureOutcome::Kind::kRepeated
                                                            : CaptureOutcome::Kind::kDropped;
      return outcome;
    }
    if (frame.payload.empty()) {
      // A payload-free repeat we cannot forward: the driver re-publishes the picture itself
      // at its next refresh, once we no longer hold it.
      input_.release(frame);
      CaptureOutcome outcome;
      outcome.kind = CaptureOutcome::Kind::kNothing;
      return outcome;
    }
    auto outcome = convert(producer, frame, frame_number);
    if (outcome) outcome->stage_start_ns = taken_ns_;
    converted_content_ = outcome && outcome->kind == CaptureOutcome::Kind::kPublished
                             ? frame.content_token
                             : abi::kNoToken;
    input_.release(frame);
    return outcome;
  }

  const char* name() const override { return "vdisplay"; }

 private:
  Result<CaptureOutcome> convert(FrameProducer& producer, const FrameConsumer::Frame& frame,
                                 uint64_t frame_number) {
    CaptureOutcome outcome;
    outcome.capture_ns = frame.capture_time_ns;
    const abi::FrameGeometry& in = frame.geometry;
    if (in.format != static_cast<uint32_t>(abi::PixelFormat::kBgra) || in.plane_count != 1) {
      outcome.kind = CaptureOutcome::Kind::kError;
      outcome.error = "vdisplay: the driver published a frame that is not BGRA";
      return outcome;
    }
    // BGRA is full-range sRGB (the slot header says so, or nothing).
    if (auto colour = media::frameColourSpace(abi::PixelFormat::kBgra, frame.colour); !colour) {
      outcome.kind = CaptureOutcome::Kind::kError;
      outcome.error = "vdisplay: " + colour.error().message;
      return outcome;
    }
    const uint32_t max_w = config_.fit_to_size ? config_.width : in.width;
    const uint32_t max_h = config_.fit_to_size ? config_.height : in.height;
    auto out = fitI420(in.width, in.height, max_w, max_h, capacity_);
    if (!out) {
      outcome.kind = CaptureOutcome::Kind::kError;
      outcome.error = "vdisplay: " + out.error().message;
      return outcome;
    }
    auto changed = ensureMode(producer, *out);
    if (!changed) return changed.error();
    if (*changed) outcome.new_mode = *out;
    auto slot = producer.beginFrame();
    if (!slot) {
      outcome.kind = CaptureOutcome::Kind::kDropped;
      return outcome;
    }
    auto* src = const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(frame.payload.data())) +
                in.plane_offset[0];
    const media::Image grabbed{
        media::PixelLayout::kBgrx, in.width, in.height, {src}, {in.stride[0]}};
    auto target = media::imageOf(*out, slot->payload.data());
    auto converted = target ? converter_.convert(grabbed, *target) : Result<void>(target.error());
    if (!converted) {
      producer.cancel(*slot);
      outcome.kind = CaptureOutcome::Kind::kError;
      outcome.error = "vdisplay: " + converted.error().message;
      return outcome;
    }
    if (config_.stamp_barcode) {
      auto* luma = reinterpret_cast<uint8_t*>(slot->payload.data()) + out->plane_offset[0];
      (void)stampBarcode(luma, out->stride[0], out->width, out->height,
                         {frame_number, frame.capture_time_ns});
    }
    FrameMeta meta;
    meta.capture_time_ns = frame.capture_time_ns;
    meta.geometry = *out;
    meta.colour = abi::ColourSpace::kBt709Limited;  // what the converter wrote
    if (producer.publish(*slot, meta) == abi::kNoToken) {
      outcome.kind = CaptureOutcome::Kind::kDropped;
      return outcome;
    }
    outcome.kind = CaptureOutcome::Kind::kPublished;
    auto bytes = framePayloadSize(*out);
    outcome.bytes = bytes ? *bytes : 0;
    return outcome;
  }

  SourceConfig config_;
  uint64_t capacity_;
  FrameConsumer input_;
  std::unique_ptr<CaptureSource> fallback_;
  std::optional<FrameConsumer::Frame> held_;
  uint64_t taken_ns_ = 0;  // when held_ was acquired (CLOCK_MONOTONIC)
  media::ColourConverter converter_;
  uint64_t opened_ns_;
  uint64_t last_frame_ns_ = 0;
  uint64_t converted_content_ = abi::kNoToken;  // the driver picture our ring's last frame shows
  bool using_fallback_ = false;
};

}  // namespace

Result<std::unique_ptr<CaptureSource>> createVdisplaySource(const SourceConfig& config,
                                                            uint64_t payload_capacity,
                                                            SourceFailure* failure) {
  if (config.input_ring_fd == platform::kInvalidHandle) {
    *failure = SourceFailure::kBadConfig;
    return makeError(
        "vdisplay source: funkhausd handed over no driver ring (fd role "
        "kFrameRingIn)");
  }
  auto shm = SharedMemory::attachDup(config.input_ring_fd);
  if (!shm) {
    *failure = SourceFailure::kBadConfig;
    return makeError("vdisplay source: driver ring: {}", shm.error().message);
  }
  auto consumer = FrameConsumer::attach(std::move(*shm));
  if (!consumer) {
    *failure = SourceFailure::kTransient;
    return makeError("vdisplay source: driver ring: {}", consumer.error().message);
  }
  // What fills in while the virtual display gives nothing: X11 when $DISPLAY is usable, else
  // the synthetic pattern at the configured mode.
  std::unique_ptr<CaptureSource> fallback;
  SourceConfig x11 = config;
  x11.kind = SourceKind::kX11;
  SourceFailure ignored = SourceFailure::kTransient;
  if (!config.display.empty() || getenv("DISPLAY") != nullptr) {
    auto source = createX11Source(x11, payload_capacity, &ignored);
    if (source) fallback = std::move(*source);
  }
  if (!fallback) {
    SourceConfig synthetic = config;
    synthetic.kind = SourceKind::kSynthetic;
    auto source = createSyntheticSource(synthetic, payload_capacity, &ignored);
    if (source) fallback = std::move(*source);
  }
  spdlog::info("vdisplay source: driver ring of {} slots; fallback: {}", consumer->slotCount(),
               fallback ? fallback->name() : "none");
  return std::unique_ptr<CaptureSource>(
      new VdisplaySource(config, payload_capacity, std::move(*consumer), std::move(fallback)));
}

}  // namespace funkhaus::capture
