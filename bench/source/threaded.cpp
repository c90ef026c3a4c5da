// The threads-over-rings variant: what funkhausd and its three workers do, as three threads of
// this process — the rings and net's sockets from the supervisor library (SessionPlan,
// NetEndpoints), the capture worker's loop over CaptureSource, the encode worker's loop over
// EncodeStage, net's RingReader and NetCore on an Asio loop. Only the process boundary (and
// the supervisor channel's heartbeats and command polls) is missing.
#include <fcntl.h>
#include <signal.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <thread>

#include "funkhaus/abi/status_page.h"
#include "funkhaus/bench/rtsp_viewer.h"
#include "funkhaus/bench/variant.h"
#include "funkhaus/capture/capture_source.h"
#include "funkhaus/capture/capture_worker.h"
#include "funkhaus/capture/frame_clock.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/encode/encode_stage.h"
#include "funkhaus/encode/encode_worker.h"
#include "funkhaus/net/net_core.h"
#include "funkhaus/net/net_state.h"
#include "funkhaus/net/net_worker.h"
#include "funkhaus/net/ring_reader.h"
#include "funkhaus/supervisor/net_endpoints.h"
#include "funkhaus/supervisor/session_plan.h"

namespace funkhaus::bench {

namespace {

namespace asio = boost::asio;

constexpr uint64_t kIdleSliceNs = 50'000'000;  // capture worker: wake at least this often
constexpr int64_t kEncodeTurnNs = 20'000'000;  // encode worker: a turn waits at most this long
constexpr uint64_t kStaleNs = 300'000'000;     // net worker: records older at start are skipped
constexpr int kRtspTimeoutMs = 10'000;

int fdOf(const std::vector<supervisor::HandedFd>& fds, abi::FdRole role, uint32_t tag = 0) {
  for (const auto& f : fds)
    if (f.role == role && f.tag == tag) return f.fd;
  return -1;
}

UniqueFd dupOf(int fd) { return UniqueFd(fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

class ThreadedVariant : public Variant {
 public:
  explicit ThreadedVariant(const BenchSettings& settings) : settings_(settings) {}
  ~ThreadedVariant() override { (void)stop(); }

  const char* name() const override { return "one process, three threads over rings"; }

  Result<void> start(RtpSink& sink) override {
    signal(SIGPIPE, SIG_IGN);  // as funkhaus-net
    auto config = hostConfig(settings_);
    if (!config) return config.error();
    auto plan = supervisor::SessionPlan::create(*config, config->workers);
    if (!plan) return makeError("rings: {}", plan.error().message);
    plan_.emplace(std::move(*plan));
    auto endpoints = supervisor::NetEndpoints::open(config->net);
    if (!endpoints) return makeError("net endpoints: {}", endpoints.error().message);
    endpoints_.emplace(std::move(*endpoints));
    if (auto ok = startCapture(*config); !ok) return ok.error();
    if (auto ok = startEncode(*config); !ok) return ok.error();
    if (auto ok = startNet(*config); !ok) return ok.error();
    auto viewer =
        RtspViewer::play(endpoints_->rtspPort(), net_options_.rtsp.path, sink, kRtspTimeoutMs);
    if (!viewer) return makeError("viewer: {}", viewer.error().message);
    viewer_.emplace(std::move(*viewer));
    return {};
  }

  Result<std::vector<StageFigure>> stages() override { return stageFigures(pages_); }

  Result<void> keepAlive() override {
    if (!viewer_) return makeError("no viewer");
    return viewer_->keepAlive();
  }

  std::vector<ProcessCpu> cpu() const override {
    return {{"bench (pipeline and sink)", processCpuNs(0)}};
  }

  Result<void> stop() override {
    Result<void> result;
    if (viewer_) {
      if (auto t = viewer_->teardown(); !t) result = t.error();
      viewer_.reset();
    }
    // In funkhausd's order: net, encode, capture (reverse start order).
    io_.stop();
    if (net_thread_.joinable()) net_thread_.join();
    if (reader_) reader_->stop();
    stop_encode_.store(true);
    if (encode_thread_.joinable()) encode_thread_.join();
    stop_capture_.store(true);
    if (capture_thread_.joinable()) capture_thread_.join();
    if (!capture_error_.empty() && result.ok()) result = makeError("capture: {}", capture_error_);
    return result;
  }

  std::vector<std::string> notes(const RtpSink&, uint64_t, uint64_t) const override {
    const char* names[3] = {"capture", "encode", "net"};
    std::vector<std::string> out;
    for (int i = 0; i < 3; ++i) {
      const abi::WorkerStatusPage& p = pages_[i];
      out.push_back(fmt::format("{}: frames in {}, out {}, drops {}, errors {}", names[i],
                                abi::atomicLoad(p.frames_in), abi::atomicLoad(p.frames_out),
                                abi::atomicLoad(p.drops), abi::atomicLoad(p.errors)));
    }
    return out;
  }

 private:
  Result<void> startCapture(const supervisor::Config& config) {
    auto args = workerArgv("capture", config);
    auto argv = argvOf(args);
    auto options = capture::parseCaptureOptions(static_cast<int>(args.size()), argv.data());
    if (!options) return makeError("capture options: {}", options.error().message);
    auto shm = SharedMemory::attachDup(plan_->ring(abi::RingId::kFrames)->memory.handle());
    if (!shm) return makeError("frame ring: {}", shm.error().message);
    auto producer = FrameProducer::attach(std::move(*shm));
    if (!producer) return makeError("frame ring: {}", producer.error().message);
    producer_.emplace(std::move(*producer));
    auto source =
        capture::CaptureSource::create(options->source, producer_->layout().payload_capacity);
    if (!source) return makeError("capture source: {}", source.error().message);
    source_ = std::move(*source);
    capture_fps_ = options->fps;
    capture_thread_ = std::thread([this] { runCapture(); });
    return {};
  }

  // The capture worker's loop without the channel: a frame per deadline of the frame grid.
  void runCapture() {
    abi::WorkerStatusPage& page = pages_[0];
    const capture::FrameClock clock(capture_fps_);
    StageStats stats;
    uint64_t frames_out = 0, drops = 0, missed = 0, errors = 0;
    uint64_t next = clock.frameAt(monotonicNs()) + 1;
    while (!stop_capture_.load(std::memory_order_relaxed)) {
      const uint64_t deadline = clock.startOf(next);
      uint64_t now = monotonicNs();
      if (now < deadline) sleepUntilNs(std::min(deadline, now + kIdleSliceNs));
      now = monotonicNs();
      if (now < deadline) {
        stats.publish(page, now);
        continue;
      }
      const uint64_t number = clock.frameAt(now);
      if (number > next) missed += number - next;
      next = number + 1;
      auto outcome = source_->capture(*producer_, number, now);
      if (!outcome) {
        capture_error_ = outcome.error().message;
        return;
      }
      const uint64_t done = monotonicNs();
      switch (outcome->kind) {
        case capture::CaptureOutcome::Kind::kPublished:
        case capture::CaptureOutcome::Kind::kRepeated:
          ++frames_out;
          stats.onFrame(now, done);
          break;
        case capture::CaptureOutcome::Kind::kDropped:
          ++drops;
          break;
        case capture::CaptureOutcome::Kind::kNothing:  // the synthetic source always draws
          break;
        case capture::CaptureOutcome::Kind::kError:
          ++errors;
          break;
      }
      abi::storeRelaxed(page.frames_out, frames_out);
      abi::storeRelaxed(page.drops, drops + missed);
      abi::storeRelaxed(page.errors, errors);
      stats.publish(page, done);
    }
  }

  Result<void> startEncode(const supervisor::Config& config) {
    auto args = workerArgv("encode", config);
    auto argv = argvOf(args);
    auto arguments = encode::parseArguments(static_cast<int>(args.size()), argv.data());
    if (!arguments) return makeError("encode options: {}", arguments.error().message);
    encode::routeLibavLogToSpdlog();
    auto encoder = encode::Encoder::create(arguments->config);
    if (!encoder) return makeError("encoder: {}", encoder.error().message);
    auto frame_shm = SharedMemory::attachDup(plan_->ring(abi::RingId::kFrames)->memory.handle());
    if (!frame_shm) return makeError("frame ring: {}", frame_shm.error().message);
    auto frames = FrameConsumer::attach(std::move(*frame_shm));
    if (!frames) return makeError("frame ring: {}", frames.error().message);
    frames_.emplace(std::move(*frames));
    auto packet_shm =
        SharedMemory::attachDup(plan_->ring(abi::RingId::kVideoPackets)->memory.handle());
    if (!packet_shm) return makeError("packet ring: {}", packet_shm.error().message);
    auto packets = PacketProducer::attach(std::move(*packet_shm));
    if (!packets) return makeError("packet ring: {}", packets.error().message);
    packets_.emplace(std::move(*packets));
    stage_ = std::make_unique<encode::EncodeStage>(std::move(*encoder), *frames_, *packets_);
    encode_thread_ = std::thread([this] { runEncode(); });
    return {};
  }

  // The encode worker's loop without the channel; net's keyframe requests come through a flag
  // (funkhausd forwards them as Command::kKeyframe).
  void runEncode() {
    while (!stop_encode_.load(std::memory_order_relaxed)) {
      if (keyframe_.exchange(false)) stage_->requestKeyframe();
      stage_->step(kEncodeTurnNs);
      stage_->publish(pages_[1], monotonicNs());
    }
    stage_.reset();  // gives every held slot back
  }

  Result<void> startNet(const supervisor::Config& config) {
    auto args = workerArgv("net", config);
    auto argv = argvOf(args);
    auto options = net::parseNetOptions(static_cast<int>(args.size()), argv.data());
    if (!options || !options->has_value()) return makeError("net options: bad arguments");
    net_options_ = **options;
    const auto fds = endpoints_->handedFds();
    auto page = SharedMemory::attach(dupOf(fdOf(fds, abi::FdRole::kNetState)));
    if (!page) return makeError("net state page: {}", page.error().message);
    auto state = net::NetState::attach(std::move(*page));
    if (!state) return makeError("net state: {}", state.error().message);
    state_.emplace(std::move(*state));
    auto ring = SharedMemory::attachDup(plan_->ring(abi::RingId::kVideoPackets)->memory.handle());
    if (!ring) return makeError("packet ring: {}", ring.error().message);
    auto consumer = PacketConsumer::attach(std::move(*ring));
    if (!consumer) return makeError("packet ring: {}", consumer.error().message);
    net::Handover handover;
    for (const auto& f : fds)
      if (f.role == abi::FdRole::kEndpoint) handover.endpoints.emplace_back(f.tag, dupOf(f.fd));
    net::SupervisorLink link;
    // Runs on the net thread, the only one touching endpoints_ after start.
    link.deposit = [this](uint32_t slot, int fd) {
      if (auto kept = endpoints_->deposit(slot, dupOf(fd)); !kept)
        spdlog::warn("net deposited a viewer socket that was refused: {}", kept.error().message);
    };
    link.release = [this](uint32_t slot) { endpoints_->release(slot); };
    link.requestKeyframe = [this] { keyframe_.store(true); };
    auto server = net::NetCore::create(io_, *state_, std::move(handover), net_options_, link);
    if (!server) return makeError("net server: {}", server.error().message);
    server_ = std::move(*server);
    reader_ = std::make_unique<net::RingReader>(std::move(*consumer), kStaleNs);
    net_thread_ = std::thread([this] { runNet(); });
    return {};
  }

  // The net worker's loop without the channel: the ring reader's thread posts each unit to the
  // Asio loop, which serves it; a 50 ms tick publishes the status page.
  void runNet() {
    abi::WorkerStatusPage& page = pages_[2];
    StageStats stats;
    net::NetCore& server = *server_;
    net::RingReader& reader = *reader_;
    asio::steady_timer tick(io_);
    std::function<void()> arm_tick = [&] {
      tick.expires_after(std::chrono::milliseconds(50));
      tick.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;
        const net::NetCounters c = server.counters();
        abi::storeRelaxed(page.frames_in, reader.framesIn());
        abi::storeRelaxed(page.frames_out, c.frames_out);
        abi::storeRelaxed(page.drops, c.drops + reader.overflowDropped());
        abi::storeRelaxed(page.errors, c.errors + reader.errors());
        stats.publish(page, monotonicNs());
        arm_tick();
      });
    };
    arm_tick();
    reader.start([&](std::shared_ptr<net::AccessUnit> unit) {
      asio::post(io_, [&, unit] {
        const uint64_t done = server.onAccessUnit(*unit);
        if (done != 0) stats.onFrame(unit->capture_time_ns, done);
        reader.done();
      });
    });
    io_.run();
    reader.stop();
  }

  BenchSettings settings_;
  std::optional<supervisor::SessionPlan> plan_;
  std::optional<supervisor::NetEndpoints> endpoints_;
  std::array<abi::WorkerStatusPage, 3> pages_{};
  std::atomic<bool> keyframe_{false};

  // capture
  std::optional<FrameProducer> producer_;
  std::unique_ptr<capture::CaptureSource> source_;
  uint32_t capture_fps_ = 60;
  std::thread capture_thread_;
  std::atomic<bool> stop_capture_{false};
  std::string capture_error_;

  // encode
  std::optional<FrameConsumer> frames_;
  std::optional<PacketProducer> packets_;
  std::unique_ptr<encode::EncodeStage> stage_;
  std::thread encode_thread_;
  std::atomic<bool> stop_encode_{false};

  // net (io_ before the server and the reader, which refer to it)
  asio::io_context io_;
  net::NetOptions net_options_;
  std::optional<net::NetState> state_;
  std::unique_ptr<net::NetCore> server_;
  std::unique_ptr<net::RingReader> reader_;
  std::thread net_thread_;

  std::optional<RtspViewer> viewer_;
};

}  // namespace

std::unique_ptr<Variant> makeThreadedVariant(const BenchSettings& settings) {
  return std::make_unique<ThreadedVariant>(settings);
}

}  // namespace funkhaus::bench
