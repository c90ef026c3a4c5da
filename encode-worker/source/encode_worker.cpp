// funkhaus-encode: arguments, channel, rings, and the main loop.
#include "funkhaus/encode/encode_worker.h"

#include <signal.h>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/common/worker_channel.h"
#include "funkhaus/encode/encode_stage.h"

namespace funkhaus::encode {

namespace {

std::atomic<bool> g_terminate{false};
void onTerminate(int) { g_terminate.store(true); }

// Commands are polled between turns, so a turn waits at most this long for a frame.
constexpr int64_t kTurnNs = 20'000'000;

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
  return out;
}

int runEncodeWorker(const EncoderConfig& config) {
  struct sigaction sa {};
  sa.sa_handler = onTerminate;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  routeLibavLogToSpdlog();

  auto channel = WorkerChannel::connect(kWorkerChannelFd, abi::WorkerKind::kEncode);
  if (!channel) {
    spdlog::error("encode: channel: {}", channel.error().message);
    return abi::kExitPeerLost;
  }
  channel->heartbeat();
  auto encoder = Encoder::create(config);
  if (!encoder) {
    spdlog::error("encode: {}", encoder.error().message);
    channel->setState(abi::WorkerState::kFailed);
    return abi::kExitUnsupported;
  }
  channel->heartbeat();

  UniqueFd frame_fd = channel->takeRing(abi::FdRole::kRingIn, abi::RingId::kFrames);
  UniqueFd packet_fd = channel->takeRing(abi::FdRole::kRingOut, abi::RingId::kVideoPackets);
  if (!frame_fd.valid() || !packet_fd.valid()) {
    spdlog::error("encode: funkhausd handed over no {}",
                  !frame_fd.valid() ? "frame ring (kRingIn, kFrames)"
                                    : "packet ring (kRingOut, kVideoPackets)");
    channel->setState(abi::WorkerState::kFailed);
    return abi::kExitBadConfig;
  }
  auto frame_shm = SharedMemory::attach(std::move(frame_fd));
  if (!frame_shm) {
    spdlog::error("encode: frame ring: {}", frame_shm.error().message);
    return abi::kExitAttachFailed;
  }
  auto frames = FrameConsumer::attach(std::move(*frame_shm));
  if (!frames) {
    spdlog::error("encode: frame ring: {}", frames.error().message);
    return abi::kExitAttachFailed;
  }
  auto packet_shm = SharedMemory::attach(std::move(packet_fd));
  if (!packet_shm) {
    spdlog::error("encode: packet ring: {}", packet_shm.error().message);
    return abi::kExitAttachFailed;
  }
  auto packets = PacketProducer::attach(std::move(*packet_shm));
  if (!packets) {
    spdlog::error("encode: packet ring: {}", packets.error().message);
    return abi::kExitAttachFailed;
  }

  EncodeStage stage(std::move(*encoder), *frames, *packets);
  if (auto ready = channel->sendReady(); !ready) {
    spdlog::error("encode: {}", ready.error().message);
    return abi::kExitPeerLost;
  }
  spdlog::info("encode: ready: {} (asked for {}), {} bit/s, {} fps, preset {}",
               stage.encoder().name(), config.encoder, config.bitrate, config.fps, config.preset);

  bool running = false;
  while (!g_terminate.load()) {
    channel->heartbeat();
    // Commands first, without blocking.
    for (;;) {
      auto command = channel->waitCommand(0);
      if (!command) {
        spdlog::error("encode: channel: {}", command.error().message);
        return abi::kExitPeerLost;
      }
      if (!command->has_value()) break;
      const abi::CommandBody& c = **command;
      switch (static_cast<abi::Command>(c.command)) {
        case abi::Command::kStop:
          spdlog::info("encode: stop");
          channel->setState(abi::WorkerState::kStopping);
          return abi::kExitStopped;
        case abi::Command::kKeyframe:
          stage.requestKeyframe();
          break;
        case abi::Command::kSetBitrate:
          if (auto set = stage.setBitrate(c.arg); !set) {
            spdlog::warn("encode: set bitrate refused: {}", set.error().message);
          } else {
            spdlog::info("encode: bitrate {} bit/s from the next frame", c.arg);
          }
          break;
      }
    }
    const EncodeStage::Turn turn = stage.step(kTurnNs);
    if (!running && (turn == EncodeStage::Turn::kEncoded || turn == EncodeStage::Turn::kRepeated)) {
      channel->setState(abi::WorkerState::kRunning);
      running = true;
    }
    stage.publish(channel->status(), monotonicNs());
  }
  spdlog::info("encode: terminated by signal");
  channel->setState(abi::WorkerState::kStopping);
  return abi::kExitStopped;
}

}  // namespace funkhaus::encode
