// The capture worker: options, and the stage on the one worker runtime that captures one frame
// per deadline of the frame grid (or as soon as the driver ring has one) into the frame ring.
#include "funkhaus/capture/capture_worker.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/capture/frame_clock.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/common/worker_runtime.h"

namespace funkhaus::capture {

namespace {

// Recoverable errors are logged at most this often (they are counted every time).
constexpr uint64_t kErrorLogIntervalNs = 1'000'000'000;

void setupLogging() {
  auto logger = spdlog::stderr_logger_mt("funkhaus-capture");
  logger->set_pattern("%l: %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
}

ErrorCode errorCodeFor(SourceFailure failure) {
  switch (failure) {
    case SourceFailure::kUnsupported:
      return ErrorCode::kUnsupported;
    case SourceFailure::kBadConfig:
      return ErrorCode::kBadConfig;
    case SourceFailure::kTransient:
      break;
  }
  return ErrorCode::kFailure;
}

// funkhaus-capture on the worker runtime: start() attaches the frame ring (and the driver ring
// for --source vdisplay) and opens the source; a step waits for the next deadline of the frame
// grid (or a frame from the driver), at most its budget, and captures.
class CaptureStage final : public WorkerStage {
 public:
  explicit CaptureStage(const CaptureOptions& options) : options_(options), clock_(options.fps) {}

  Result<void> start(WorkerContext& context) override {
    context_ = &context;
    auto ring = context.ring(abi::FdRole::kRingOut, abi::RingId::kFrames);
    if (!ring) return ring.error();
    auto producer = FrameProducer::attach(std::move(*ring));
    if (!producer)
      return makeError(ErrorCode::kAttachFailed, "frame ring: {}", producer.error().message);
    producer_.emplace(std::move(*producer));
    SourceConfig config = options_.source;
    if (config.kind == SourceKind::kVdisplay) {
      input_ring_ =
          context.take(abi::FdRole::kRingIn, static_cast<uint32_t>(abi::RingId::kDisplay));
      config.input_ring_fd = input_ring_.get();
    }
    SourceFailure failure = SourceFailure::kTransient;
    auto source = CaptureSource::create(config, producer_->layout().payload_capacity, &failure);
    if (!source) return makeError(errorCodeFor(failure), "{}", source.error().message);
    source_ = std::move(*source);
    spdlog::info("capturing {} at {} fps into a ring of {} slots of {} bytes", source_->name(),
                 options_.fps, producer_->slotCount(), producer_->layout().payload_capacity);
    next_ = clock_.frameAt(monotonicNs()) + 1;
    return {};
  }

  Result<void> step(int64_t budget_ns) override {
    if (!running_) {
      context_->setState(abi::WorkerState::kRunning);
      running_ = true;
    }
    const uint64_t deadline = clock_.startOf(next_);
    uint64_t now = monotonicNs();
    // A source that is told when a frame is ready (vdisplay; x11 on damage) captures it at
    // once; the others (and those while nothing comes) keep the frame grid.
    bool ready = false;
    if (now < deadline)
      ready = source_->waitForFrame(
          std::min(deadline, now + static_cast<uint64_t>(std::max<int64_t>(budget_ns, 0))));
    if (stopSignalled()) return {};
    now = monotonicNs();
    if (!ready && now < deadline) return {};
    // Late by whole frames (starved CPU): those frames are lost, the grid keeps its phase. A
    // frame ready before the deadline while its interval already has one takes the next number
    // (numbers never repeat) and that deadline passes.
    const uint64_t number = std::max(clock_.frameAt(now), next_);
    if (!ready && number > next_) missed_ += number - next_;
    next_ = number + 1;

    auto outcome = source_->capture(*producer_, number + number_offset_, now);
    if (!outcome) return outcome.error();
    const uint64_t done = monotonicNs();
    const uint64_t captured = outcome->capture_ns != 0 ? outcome->capture_ns : now;
    switch (outcome->kind) {
      case CaptureOutcome::Kind::kPublished:
        ++frames_out_;
        bytes_out_ += outcome->bytes;
        // The convert stage: input taken (or grab started) -> converted slot published.
        stats_.onFrame(captured, done,
                       outcome->stage_start_ns != 0 ? outcome->stage_start_ns : now);
        break;
      case CaptureOutcome::Kind::kRepeated:  // nothing converted: no stage time
        ++frames_out_;
        bytes_out_ += outcome->bytes;
        stats_.onFrame(captured, done);
        break;
      case CaptureOutcome::Kind::kDropped:
        ++drops_;
        break;
      case CaptureOutcome::Kind::kNothing:
        break;
      case CaptureOutcome::Kind::kError:
        ++errors_;
        if (done >= next_error_log_ns_) {
          next_error_log_ns_ = done + kErrorLogIntervalNs;
          spdlog::warn("{} (errors so far: {})", outcome->error, errors_);
        }
        break;
    }
    if (outcome->new_mode) {
      const abi::FrameGeometry& mode = *outcome->new_mode;
      spdlog::info("mode {}x{}", mode.width, mode.height);
      if (auto sent = context_->sendEvent(abi::Event::kModeChanged,
                                          uint64_t{mode.width} << 32 | mode.height);
          !sent)
        return sent.error();
    }
    return {};
  }

  // kSetFps: the grid takes the new rate from the next frame; frame numbers go on from where
  // they were (downstream sees them rise, never jump back).
  void onCommand(const abi::CommandBody& command) override {
    if (static_cast<abi::Command>(command.command) != abi::Command::kSetFps) return;
    if (command.arg < kMinFps) {
      spdlog::warn("frame rate {} refused (at least {})", command.arg, kMinFps);
      return;
    }
    const auto fps = static_cast<uint32_t>(std::min<uint64_t>(command.arg, kMaxFps));
    if (fps == clock_.fps()) return;
    const uint64_t now = monotonicNs();
    const uint64_t next = next_ + number_offset_;  // in the numbers downstream has seen
    clock_ = FrameClock(fps);
    number_offset_ = next - (clock_.frameAt(now) + 1);
    next_ = clock_.frameAt(now) + 1;
    options_.fps = options_.source.fps = fps;  // also for a source opened later
    if (source_) source_->setFps(fps);
    spdlog::info("capturing at {} fps{}", fps,
                 fps != command.arg ? fmt::format(" (asked for {})", command.arg) : "");
  }

  void publish(abi::WorkerStatusPage& page, uint64_t now_ns) override {
    abi::storeRelaxed(page.frames_out, frames_out_);
    abi::storeRelaxed(page.bytes_out, bytes_out_);
    abi::storeRelaxed(page.drops, drops_ + missed_);
    abi::storeRelaxed(page.errors, errors_ + context_->channelErrors());
    stats_.publish(page, now_ns);
  }

  void stop() override {
    spdlog::info("stopping: {} frames out, {} dropped, {} missed deadlines, {} errors", frames_out_,
                 drops_, missed_, errors_);
  }

 private:
  CaptureOptions options_;
  FrameClock clock_;
  WorkerContext* context_ = nullptr;
  std::optional<FrameProducer> producer_;
  UniqueFd input_ring_;  // the driver ring (vdisplay); the source keeps a duplicate
  std::unique_ptr<CaptureSource> source_;
  StageStats stats_;
  bool running_ = false;
  uint64_t next_ = 0;  // the number of the next frame due on the grid
  // Added to grid numbers for the frames' numbers: they go on rising across a change of rate.
  uint64_t number_offset_ = 0;
  uint64_t frames_out_ = 0, bytes_out_ = 0, drops_ = 0, errors_ = 0, missed_ = 0;
  uint64_t next_error_log_ns_ = 0;
};

}  // namespace

Result<CaptureOptions> parseCaptureOptions(int argc, const char* const* argv, bool* help) {
  if (help != nullptr) *help = false;
  CaptureOptions options;
  CLI::App app{
      "funkhaus-capture: captures frames (a synthetic test pattern or the X11 root window) into "
      "the frame ring funkhausd hands over on fd 3."};
  std::string source = "synthetic";
  bool barcode = false;
  bool no_cursor = false;
  app.add_option("--source", source,
                 "synthetic (default), x11 (the root window of $DISPLAY) or vdisplay (the driver "
                 "ring funkhausd hands over; x11 or synthetic fill in while it gives nothing)")
      ->check(CLI::IsMember({"synthetic", "x11", "vdisplay"}));
  auto* width = app.add_option("--width", options.source.width,
                               "synthetic: frame width (default 1920); x11: scale the root "
                               "down to fit this width")
                    ->check(CLI::Range(2u, 16384u));
  auto* height = app.add_option("--height", options.source.height,
                                "synthetic: frame height (default 1080); x11: scale the root "
                                "down to fit this height")
                     ->check(CLI::Range(2u, 16384u));
  app.add_option("--fps", options.fps, "frames per second (default 60)")
      ->check(CLI::Range(kMinFps, kMaxFps));
  app.add_flag("--barcode", barcode,
               "x11: stamp the frame number and capture time into the top-left corner");
  app.add_flag("--no-cursor", no_cursor, "x11: do not draw the cursor into the frames");
  app.add_option("--sync-flash-ms", options.source.sync_flash_ms,
                 "synthetic: the A/V sync pattern, a white frame every N ms of CLOCK_MONOTONIC")
      ->check(CLI::Range(1u, 3'600'000u));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    if (help != nullptr) *help = true;
    return makeError("{}", app.help());
  } catch (const CLI::ParseError& e) {
    return makeError("{} (see --help)", e.what());
  }
  if (options.source.width % 2 != 0 || options.source.height % 2 != 0)
    return makeError(
        "--width and --height must be even (I420 chroma is subsampled 2x2), got "
        "{}x{}",
        options.source.width, options.source.height);
  options.source.kind = source == "x11"        ? SourceKind::kX11
                        : source == "vdisplay" ? SourceKind::kVdisplay
                                               : SourceKind::kSynthetic;
  options.source.fit_to_size = width->count() > 0 || height->count() > 0;
  options.source.stamp_barcode = barcode;
  options.source.fps = options.fps;
  options.source.compose_cursor = !no_cursor;
  return options;
}

int runCaptureWorker(int argc, const char* const* argv) {
  bool help = false;
  auto options = parseCaptureOptions(argc, argv, &help);
  if (!options) {
    std::fprintf(help ? stdout : stderr, "%s%s\n",
                 help ? "" : "funkhaus-capture: ", options.error().message.c_str());
    return help ? abi::kExitStopped : abi::kExitBadConfig;
  }
  setupLogging();
  CaptureStage stage(*options);
  RuntimeOptions runtime;
  runtime.kind = abi::WorkerKind::kCapture;
  runtime.name = "capture";
  return runWorker(stage, runtime);
}

}  // namespace funkhaus::capture
