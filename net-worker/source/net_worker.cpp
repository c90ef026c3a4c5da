// funkhaus-net: command line and the stage around NetCore.
#include "funkhaus/net/net_worker.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/net/rtsp/rtp_packetizer.h"
#include "funkhaus/platform/handle_passing.h"

namespace funkhaus::net {

namespace asio = boost::asio;

namespace {

// Stale access units on (re)start: older than this is not worth sending.
constexpr uint64_t kStaleNs = 300'000'000;
// Audio packets handed to the loop and not yet served: 80 ms of 5 ms packets.
constexpr uint32_t kAudioInFlight = 16;

Result<void> checkPath(const std::string& path) {
  if (path.size() < 2 || path.size() > 200 || path.front() != '/' || path.back() == '/')
    return makeError("--path '{}' must start with '/', not end with '/', 2..200 characters", path);
  for (char c : path)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("/-._~", c) == nullptr)
      return makeError("--path '{}' may only hold letters, digits and / - . _ ~", path);
  if (path.find("//") != std::string::npos)
    return makeError("--path '{}' has an empty segment", path);
  return {};
}

}  // namespace

Result<std::optional<NetOptions>> parseNetOptions(int argc, char** argv) {
  NetOptions o;
  CLI::App app{"funkhaus-net: serves the packet ring to RTSP/RTP viewers (started by funkhausd)"};
  app.add_option("--path", o.rtsp.path, "the stream's RTSP path")->capture_default_str();
  app.add_option("--max-viewers", o.rtsp.max_viewers, "viewers at once")
      ->check(CLI::Range(1u, abi::kMaxConnections))
      ->capture_default_str();
  app.add_option("--mtu", o.rtsp.mtu, "RTP payload budget in bytes")
      ->check(CLI::Range(static_cast<uint32_t>(kMinMtu), static_cast<uint32_t>(kMaxMtu)))
      ->capture_default_str();
  app.add_option("--session-timeout", o.rtsp.session_timeout_s,
                 "seconds without RTSP/RTCP activity before a viewer is dropped")
      ->check(CLI::Range(1u, 86400u))
      ->capture_default_str();
  app.add_option("--header-timeout-ms", o.core.header_timeout_ms,
                 "a started request must complete within this many ms")
      ->check(CLI::Range(100u, 600000u))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return std::optional<NetOptions>();
  } catch (const CLI::ParseError& e) {
    return makeError("{}", e.what());
  }
  if (auto ok = checkPath(o.rtsp.path); !ok) return ok.error();
  if (const char* digest = std::getenv(kDigestEnvironment); digest != nullptr && *digest != 0) {
    auto credentials = parseDigestCredentials(digest);
    if (!credentials) return credentials.error();
    o.rtsp.digest = std::move(*credentials);
  }
  o.core.idle_timeout_s = o.rtsp.session_timeout_s;  // a connection without a viewer, likewise
  return std::optional<NetOptions>(o);
}

Result<void> NetStage::start(WorkerContext& context) {
  context_ = &context;
  UniqueFd page_fd = context.take(abi::FdRole::kNetState);
  if (!page_fd.valid())
    return makeError(ErrorCode::kBadConfig, "funkhausd handed over no net state page");
  auto ring = context.ring(abi::FdRole::kRingIn, abi::RingId::kVideoPackets);
  if (!ring) return ring.error();
  auto page = SharedMemory::attach(std::move(page_fd), sizeof(abi::NetStatePage));
  if (!page) return makeError(ErrorCode::kAttachFailed, "net state page: {}", page.error().message);
  auto state = NetState::attach(std::move(*page));
  if (!state) return makeError(ErrorCode::kAttachFailed, "{}", state.error().message);
  state_.emplace(std::move(*state));
  auto consumer = PacketConsumer::attach(std::move(*ring));
  if (!consumer) return makeError(ErrorCode::kAttachFailed, "{}", consumer.error().message);

  Handover handover;
  handover.endpoints = context.takeAll(abi::FdRole::kEndpoint);
  handover.connections = context.takeAll(abi::FdRole::kConnection);
  // The input ring is there only when the session has an input worker.
  if (UniqueFd input_fd =
          context.take(abi::FdRole::kRingOut, static_cast<uint32_t>(abi::RingId::kInput));
      input_fd.valid()) {
    auto input_ring = SharedMemory::attach(std::move(input_fd));
    if (!input_ring)
      return makeError(ErrorCode::kAttachFailed, "input ring: {}", input_ring.error().message);
    auto producer = InputProducer::attach(std::move(*input_ring));
    if (!producer) return makeError(ErrorCode::kAttachFailed, "{}", producer.error().message);
    handover.input.emplace(std::move(*producer));
  } else {
    spdlog::info("input is not routed: the session has no input worker (clients' input dropped)");
  }
  // The audio ring is there only when the session has an audio worker.
  std::optional<PacketConsumer> audio;
  if (UniqueFd audio_fd =
          context.take(abi::FdRole::kRingIn, static_cast<uint32_t>(abi::RingId::kAudioPackets));
      audio_fd.valid()) {
    auto audio_ring = SharedMemory::attach(std::move(audio_fd));
    if (!audio_ring)
      return makeError(ErrorCode::kAttachFailed, "audio ring: {}", audio_ring.error().message);
    auto audio_consumer = PacketConsumer::attach(std::move(*audio_ring));
    if (!audio_consumer)
      return makeError(ErrorCode::kAttachFailed, "audio ring: {}", audio_consumer.error().message);
    audio.emplace(std::move(*audio_consumer));
    handover.audio = true;
  } else {
    spdlog::info("no audio: the session has no audio worker");
  }
  SupervisorLink link;
  if (platform::kWorkerPassesHandles) {
    link.deposit = [this](uint32_t slot, NativeSocket fd) {
      if (auto ok = context_->depositConnection(slot, asHandle(fd)); !ok)
        spdlog::error("depositing the connection of slot {}: {}", slot, ok.error().message);
    };
    link.release = [this](uint32_t slot) {
      if (auto ok = context_->releaseConnection(slot); !ok)
        spdlog::error("releasing the connection of slot {}: {}", slot, ok.error().message);
    };
  } else {
    spdlog::info("viewers' connections are not kept for a restarted net on this platform yet");
  }
  link.requestKeyframe = [this] {
    if (auto ok = context_->sendEvent(abi::Event::kKeyframeRequest, 0); !ok)
      spdlog::error("keyframe request: {}", ok.error().message);
  };
  link.requestMode = [this](uint32_t width, uint32_t height, uint32_t refresh_hz) {
    const uint64_t arg = uint64_t{width} << 32 | uint64_t{height} << 16 | refresh_hz;
    if (auto ok = context_->sendEvent(abi::Event::kModeRequest, arg); !ok)
      spdlog::error("mode request: {}", ok.error().message);
  };
  link.requestStream = [this](uint32_t codec, uint64_t bitrate, uint32_t fps) {
    for (auto [event, arg] : {std::pair{abi::Event::kCodecRequest, uint64_t{codec}},
                              std::pair{abi::Event::kBitrateRequest, bitrate},
                              std::pair{abi::Event::kFpsRequest, uint64_t{fps}}})
      if (auto ok = context_->sendEvent(event, arg); !ok)
        spdlog::error("stream settings: {}", ok.error().message);
  };
  link.requestAudio = [this](uint64_t request) {
    if (auto ok = context_->sendEvent(abi::Event::kAudioRequest, request); !ok)
      spdlog::error("audio request: {}", ok.error().message);
  };
  const bool restarted = state_->restarted();
  auto core = NetCore::create(io_, *state_, std::move(handover), options_, std::move(link));
  if (!core) return makeError(ErrorCode::kBadConfig, "{}", core.error().message);
  core_ = std::move(*core);
  for (const std::string& where : core_->describe())
    spdlog::info("serving {} ({} viewers at most, {}-byte RTP payloads, {} s session timeout{})",
                 where, options_.rtsp.max_viewers, options_.rtsp.mtu,
                 options_.rtsp.session_timeout_s, restarted ? ", restarted" : "");
  if (options_.rtsp.digest)
    spdlog::info("RTSP viewers from other hosts sign in as '{}' (Digest)",
                 options_.rtsp.digest->user);
  else
    spdlog::info(
        "RTSP answers viewers on this host only: no password is set ([net] rtsp_password)");

  reader_ = std::make_unique<RingReader>(std::move(*consumer), kStaleNs);
  reader_->start([this](std::shared_ptr<AccessUnit> unit) {
    asio::post(io_, [this, unit] {
      // Packetize + send: taken from the ring -> the last packet of the unit sent; capture ->
      // last packet is the screen-to-wire total. A re-encoded repeat had no screen change: it
      // counts for fps only.
      const uint64_t done = core_->onAccessUnit(*unit);
      const bool repeat = (unit->flags & abi::kRecordFlagRepeat) != 0;
      if (done != 0)
        stats_.onFrame(repeat ? 0 : unit->capture_time_ns, done, repeat ? 0 : unit->taken_ns);
      reader_->done();
    });
  });
  if (audio) {
    audio_reader_ =
        std::make_unique<RingReader>(std::move(*audio), kStaleNs, kAudioInFlight, "audio");
    audio_reader_->start([this](std::shared_ptr<AccessUnit> packet) {
      asio::post(io_, [this, packet] {
        core_->onAudioPacket(*packet);
        audio_reader_->done();
      });
    });
  }
  return {};
}

Result<void> NetStage::step(int64_t budget_ns) {
  if (!running_) {
    context_->setState(abi::WorkerState::kRunning);
    running_ = true;
  }
  io_.run_for(std::chrono::nanoseconds(budget_ns));
  if (io_.stopped()) io_.restart();
  return {};
}

void NetStage::publish(abi::WorkerStatusPage& status, uint64_t now_ns) {
  const NetCounters c = core_->counters();
  abi::storeRelaxed(status.frames_in, reader_->framesIn());
  abi::storeRelaxed(status.frames_out, c.frames_out);
  abi::storeRelaxed(status.bytes_out, c.bytes_out);
  const uint64_t audio_drops = audio_reader_ ? audio_reader_->overflowDropped() : 0;
  const uint64_t audio_errors = audio_reader_ ? audio_reader_->errors() : 0;
  abi::storeRelaxed(status.drops, c.drops + reader_->overflowDropped() + audio_drops);
  abi::storeRelaxed(status.errors,
                    c.errors + reader_->errors() + audio_errors + context_->channelErrors());
  abi::storeRelaxed(status.viewers, core_->playingViewers());
  abi::storeRelaxed(status.keyframes, c.keyframes_received);
  stats_.publish(status, now_ns);
}

void NetStage::stop() {
  if (audio_reader_) audio_reader_->stop();
  if (reader_) reader_->stop();
}

int runNetWorker(const NetOptions& options) {
  NetStage stage(options);
  RuntimeOptions runtime;
  runtime.kind = abi::WorkerKind::kNet;
  runtime.name = "net";
  return runWorker(stage, runtime);
}

}  // namespace funkhaus::net
