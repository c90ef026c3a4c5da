// The capture worker: options, hand-over, and the loop that captures one frame per deadline of
// the frame grid, heartbeats, and obeys stop and SIGTERM.
#include "funkhaus/capture/capture_worker.h"

#include <signal.h>
#include <time.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/capture/frame_clock.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/common/worker_channel.h"

namespace funkhaus::capture {

namespace {

std::atomic<bool> g_terminate{false};
void onTerminate(int) { g_terminate.store(true); }

// The loop wakes at least this often, frame due or not: heartbeat and commands.
constexpr uint64_t kIdleSliceNs = 50'000'000;
// Recoverable errors are logged at most this often (they are counted every time).
constexpr uint64_t kErrorLogIntervalNs = 1'000'000'000;

void setupLogging() {
  auto logger = spdlog::stderr_logger_mt("funkhaus-capture");
  logger->set_pattern("%l: %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
}

int exitCodeFor(SourceFailure failure) {
  switch (failure) {
    case SourceFailure::kUnsupported:
      return abi::kExitUnsupported;
    case SourceFailure::kBadConfig:
      return abi::kExitBadConfig;
    case SourceFailure::kTransient:
      break;
  }
  return abi::kExitFailure;
}

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
  struct sigaction sa {};
  sa.sa_handler = onTerminate;  // no SA_RESTART: the sleep returns at once
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  auto channel = WorkerChannel::connect(kWorkerChannelFd, abi::WorkerKind::kCapture);
  if (!channel) {
    spdlog::error("channel: {}", channel.error().message);
    return abi::kExitPeerLost;
  }
  auto fail = [&](int code) {
    channel->setState(abi::WorkerState::kFailed);
    return code;
  };
  UniqueFd ring_fd = channel->takeRing(abi::FdRole::kRingOut, abi::RingId::kFrames);
  if (!ring_fd.valid()) {
    spdlog::error("funkhausd handed over no frame ring (kRingOut, kFrames)");
    return fail(abi::kExitBadConfig);
  }
  auto ring = SharedMemory::attach(std::move(ring_fd));
  if (!ring) {
    spdlog::error("frame ring: {}", ring.error().message);
    return fail(abi::kExitAttachFailed);
  }
  auto producer = FrameProducer::attach(std::move(*ring));
  if (!producer) {
    spdlog::error("frame ring: {}", producer.error().message);
    return fail(abi::kExitAttachFailed);
  }
  UniqueFd input_ring;
  if (options->source.kind == SourceKind::kVdisplay) {
    input_ring = channel->takeRing(abi::FdRole::kRingIn, abi::RingId::kDisplay);
    options->source.input_ring_fd = input_ring.get();
  }
  SourceFailure failure = SourceFailure::kTransient;
  auto source =
      CaptureSource::create(options->source, producer->layout().payload_capacity, &failure);
  if (!source) {
    spdlog::error("{}", source.error().message);
    return fail(exitCodeFor(failure));
  }
  if (auto ready = channel->sendReady(); !ready) {
    spdlog::error("channel: {}", ready.error().message);
    return abi::kExitPeerLost;
  }
  channel->setState(abi::WorkerState::kRunning);
  spdlog::info("capturing {} at {} fps into a ring of {} slots of {} bytes", (*source)->name(),
               options->fps, producer->slotCount(), producer->layout().payload_capacity);

  abi::WorkerStatusPage& page = channel->status();
  const FrameClock clock(options->fps);
  StageStats stats;
  uint64_t frames_out = 0, bytes_out = 0, drops = 0, errors = 0, missed = 0;
  uint64_t next_error_log_ns = 0;
  uint64_t next = clock.frameAt(monotonicNs()) + 1;
  while (!g_terminate.load()) {
    const uint64_t deadline = clock.startOf(next);
    uint64_t now = monotonicNs();
    // A source that is told when a frame is ready (vdisplay) captures it at once; the others
    // (and vdisplay while nothing comes) keep the frame grid.
    bool ready = false;
    if (now < deadline) ready = (*source)->waitForFrame(std::min(deadline, now + kIdleSliceNs));
    channel->heartbeat();
    auto command = channel->waitCommand(0);
    if (!command) {
      spdlog::error("channel: {}", command.error().message);
      return abi::kExitPeerLost;
    }
    if (command->has_value()) {
      if ((*command)->command == static_cast<uint32_t>(abi::Command::kStop)) break;
      spdlog::debug("ignoring command {}", (*command)->command);
    }
    if (g_terminate.load()) break;
    now = monotonicNs();
    if (!ready && now < deadline) {
      stats.publish(page, now);
      continue;
    }
    // Late by whole frames (starved CPU): those frames are lost, the grid keeps its phase.
    const uint64_t number = clock.frameAt(now);
    if (!ready && number > next) missed += number - next;
    next = number + 1;

    auto outcome = (*source)->capture(*producer, number, now);
    if (!outcome) {
      spdlog::error("{}", outcome.error().message);
      return fail(abi::kExitFailure);
    }
    const uint64_t done = monotonicNs();
    switch (outcome->kind) {
      case CaptureOutcome::Kind::kPublished:
      case CaptureOutcome::Kind::kRepeated:
        ++frames_out;
        bytes_out += outcome->bytes;
        stats.onFrame(outcome->capture_ns != 0 ? outcome->capture_ns : now, done);
        break;
      case CaptureOutcome::Kind::kDropped:
        ++drops;
        break;
      case CaptureOutcome::Kind::kNothing:
        break;
      case CaptureOutcome::Kind::kError:
        ++errors;
        if (done >= next_error_log_ns) {
          next_error_log_ns = done + kErrorLogIntervalNs;
          spdlog::warn("{} (errors so far: {})", outcome->error, errors);
        }
        break;
    }
    if (outcome->new_mode) {
      const abi::FrameGeometry& mode = *outcome->new_mode;
      spdlog::info("mode {}x{}", mode.width, mode.height);
      if (auto sent = channel->sendEvent(abi::Event::kModeChanged,
                                         uint64_t{mode.width} << 32 | mode.height);
          !sent) {
        spdlog::error("channel: {}", sent.error().message);
        return abi::kExitPeerLost;
      }
    }
    abi::storeRelaxed(page.frames_out, frames_out);
    abi::storeRelaxed(page.bytes_out, bytes_out);
    abi::storeRelaxed(page.drops, drops + missed);
    abi::storeRelaxed(page.errors, errors);
    stats.publish(page, done);
  }
  channel->setState(abi::WorkerState::kStopping);
  spdlog::info("stopping: {} frames out, {} dropped, {} missed deadlines, {} errors", frames_out,
               drops, missed, errors);
  return abi::kExitStopped;
}

}  // namespace funkhaus::capture
