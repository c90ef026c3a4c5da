// funkhaus-encode: arguments, and the worker stage on the one runtime (rings in, EncodeStage).
#include "funkhaus/encode/encode_worker.h"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <memory>
#include <optional>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/common/worker_runtime.h"
#include "funkhaus/encode/encode_stage.h"

namespace funkhaus::encode {

namespace {

// funkhaus-encode on the worker runtime: start() attaches the frame ring (in) and the packet
// ring (out) and opens the encoder; each step is a turn of EncodeStage.
class EncodeWorkerStage final : public WorkerStage {
 public:
  EncodeWorkerStage(const EncoderConfig& config, const RepeatOptions& repeats)
      : config_(config), repeats_(repeats) {}

  Result<void> start(WorkerContext& context) override {
    context_ = &context;
    auto frame_shm = context.ring(abi::FdRole::kRingIn, abi::RingId::kFrames);
    if (!frame_shm) return frame_shm.error();
    auto packet_shm = context.ring(abi::FdRole::kRingOut, abi::RingId::kVideoPackets);
    if (!packet_shm) return packet_shm.error();
    auto frames = FrameConsumer::attach(std::move(*frame_shm));
    if (!frames)
      return makeError(ErrorCode::kAttachFailed, "frame ring: {}", frames.error().message);
    auto packets = PacketProducer::attach(std::move(*packet_shm));
    if (!packets)
      return makeError(ErrorCode::kAttachFailed, "packet ring: {}", packets.error().message);
    frames_.emplace(std::move(*frames));
    packets_.emplace(std::move(*packets));
    context.heartbeat();
    auto encoder = Encoder::create(config_);  // probes hardware encoders: may take a while
    context.heartbeat();
    if (!encoder) return makeError(ErrorCode::kUnsupported, "{}", encoder.error().message);
    stage_ = std::make_unique<EncodeStage>(std::move(*encoder), *frames_, *packets_, repeats_);
    spdlog::info("encode: ready: {} (asked for {}), {} bit/s, {} fps, preset {}, {}",
                 stage_->encoder().name(), config_.encoder, config_.bitrate, config_.fps,
                 config_.preset, describeRepeats());
    return {};
  }

  Result<void> step(int64_t budget_ns) override {
    const EncodeStage::Turn turn = stage_->step(budget_ns);
    if (!running_ &&
        (turn == EncodeStage::Turn::kEncoded || turn == EncodeStage::Turn::kRepeated)) {
      context_->setState(abi::WorkerState::kRunning);
      running_ = true;
    }
    return {};
  }

  void onCommand(const abi::CommandBody& command) override {
    switch (static_cast<abi::Command>(command.command)) {
      case abi::Command::kKeyframe:
        stage_->requestKeyframe();
        break;
      case abi::Command::kSetBitrate:
        if (auto set = stage_->setBitrate(command.arg); !set) {
          spdlog::warn("encode: set bitrate refused: {}", set.error().message);
        } else {
          config_.bitrate = command.arg;  // also for an encoder of another codec
          spdlog::info("encode: bitrate {} bit/s from the next frame", command.arg);
        }
        break;
      case abi::Command::kSetCodec:
        if (auto set = setCodec(static_cast<uint32_t>(command.arg)); !set)
          spdlog::warn("encode: set codec refused: {}", set.error().message);
        break;
      case abi::Command::kSetFps:
        if (auto set = setFps(command.arg); !set)
          spdlog::warn("encode: set frame rate refused: {}", set.error().message);
        break;
      case abi::Command::kStop:      // the runtime's
      case abi::Command::kSetAudio:  // not encode's (funkhausd's table routes it to audio)
        break;
    }
  }

  void publish(abi::WorkerStatusPage& page, uint64_t now_ns) override {
    stage_->publish(page, now_ns);
  }

 private:
  // Another codec: a new encoder of the same family (or software), starting with an IDR.
  Result<void> setCodec(uint32_t codec) {
    auto name = encoderForCodec(stage_->encoder().name(), codec);
    if (!name) return name.error();
    if (static_cast<uint32_t>(stage_->encoder().codec()) == codec) return {};
    EncoderConfig next = config_;
    next.encoder = *name;
    return reopen(next);
  }

  // Another frame rate (rate control and the repeat interval depend on it): a new encoder,
  // starting with an IDR. Rates over the encoder's limit are capped.
  Result<void> setFps(uint64_t fps) {
    if (fps == 0) return makeError("frame rate 0");
    EncoderConfig next = config_;
    next.fps = static_cast<uint32_t>(std::min<uint64_t>(fps, kMaxFps));
    if (next.fps == config_.fps) return {};
    return reopen(next);
  }

  Result<void> reopen(const EncoderConfig& next) {
    if (auto valid = validateConfig(next); !valid) return valid;
    context_->heartbeat();
    auto encoder = Encoder::create(next);
    context_->heartbeat();
    if (!encoder) return encoder.error();
    stage_.reset();  // gives its slots back before the next stage takes frames
    stage_ = std::make_unique<EncodeStage>(std::move(*encoder), *frames_, *packets_, repeats_);
    config_ = next;
    spdlog::info("encode: now {} ({}), {} bit/s, {} fps", stage_->encoder().name(),
                 media::codecName(stage_->encoder().codec()), next.bitrate, next.fps);
    return {};
  }

  std::string describeRepeats() const {
    if (stage_->repeatPolicy().idleInterval() == stage_->repeatPolicy().interval())
      return "static screen re-encoded at the full rate";
    return fmt::format("static screen re-encoded at {} fps after {} ms", repeats_.idle_fps,
                       repeats_.settle_ns / 1'000'000);
  }

  EncoderConfig config_;
  RepeatOptions repeats_;
  WorkerContext* context_ = nullptr;
  std::optional<FrameConsumer> frames_;
  std::optional<PacketProducer> packets_;
  std::unique_ptr<EncodeStage> stage_;  // declared last: gives its slots back first
  bool running_ = false;
};

}  // namespace

Result<WorkerArguments> parseArguments(int argc, const char* const* argv) {
  WorkerArguments out;
  CLI::App app{"funkhaus-encode: frame ring -> libavcodec -> packet ring (started by funkhausd)",
               "funkhaus-encode"};
  app.add_option("--encoder", out.config.encoder,
                 "libx264 (default), libx265, h264_nvenc, hevc_nvenc, h264_vaapi, h264_qsv");
  app.add_option("--bitrate", out.config.bitrate, "bits per second (default 8000000)");
  app.add_option("--fps", out.config.fps, "frame rate (default 60)");
  app.add_option("--preset", out.config.preset, "x264/x265 preset (default superfast)");
  int64_t idle_fps = out.repeats.idle_fps;
  app.add_option("--idle-fps", idle_fps,
                 fmt::format("repeats per second once the picture has been static for {} ms "
                             "(default {}; 0: the full frame rate)",
                             out.repeats.settle_ns / 1'000'000, out.repeats.idle_fps));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out.help = true;
    out.help_text = app.help();
    return out;
  } catch (const CLI::ParseError& e) {
    return makeError("{}", e.what());
  }
  if (auto valid = validateConfig(out.config); !valid) return valid.error();
  if (idle_fps < 0 || idle_fps > kMaxIdleFps)
    return makeError("--idle-fps {} must be 0 (the full frame rate) .. {}", idle_fps, kMaxIdleFps);
  out.repeats.idle_fps = static_cast<uint32_t>(idle_fps);
  return out;
}

int runEncodeWorker(const EncoderConfig& config, const RepeatOptions& repeats) {
  routeLibavLogToSpdlog();
  EncodeWorkerStage stage(config, repeats);
  RuntimeOptions runtime;
  runtime.kind = abi::WorkerKind::kEncode;
  runtime.name = "encode";
  return runWorker(stage, runtime);
}

}  // namespace funkhaus::encode
