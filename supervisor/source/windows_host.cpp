// funkhausd on Windows so far (windows_host.h): the video workers of the console session.
#include <utility>
// Asio before windows.h (winsock2.h first).
#include <boost/asio.hpp>
// Then windows.h.
#include <windows.h>

#include "funkhaus/supervisor/windows_host.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/supervisor/worker_status.h"

namespace funkhaus::supervisor {
namespace {

using namespace std::chrono_literals;
constexpr auto kTick = 20ms;
constexpr uint32_t kWtsSessionLogon = 5;  // WTS_SESSION_LOGON

// The rows of the worker table the Windows build runs, until the table itself builds there.
const WorkerSpec kCaptureRow{.name = "capture",
                             .binary = "funkhaus-capture",
                             .kind = abi::WorkerKind::kCapture,
                             .commands = {abi::Command::kStop, abi::Command::kSetFps}};
const WorkerSpec kEncodeRow{.name = "encode",
                            .binary = "funkhaus-encode",
                            .kind = abi::WorkerKind::kEncode,
                            .commands = {abi::Command::kStop, abi::Command::kKeyframe,
                                         abi::Command::kSetBitrate, abi::Command::kSetFps}};

// "session 1 (alice)", or "nobody" for logs.
std::string describe(const std::optional<ConsoleSession>& session) {
  if (!session) return "nobody";
  return fmt::format("session {} ({})", session->id, session->user.empty() ? "?" : session->user);
}

}  // namespace

SessionMove sessionMove(const std::optional<ConsoleSession>& was,
                        const std::optional<ConsoleSession>& now, uint32_t event) {
  if (!now) return was ? SessionMove::kStop : SessionMove::kStay;
  if (!was || *was != *now || event == kWtsSessionLogon) return SessionMove::kMove;
  return SessionMove::kStay;
}

Result<std::unique_ptr<WindowsHost>> WindowsHost::create(
    const WindowsHostOptions& options, std::unique_ptr<ConsoleSessionSource> sessions) {
  auto mode = makeGeometry(abi::PixelFormat::kI420, options.width, options.height);
  if (!mode) return makeError("capture mode: {}", mode.error().message);
  FrameRingConfig frames;
  frames.name = "funkhaus-frames";
  frames.slot_count = 4;
  frames.mode = *mode;
  auto frame_ring = createFrameRing(frames);
  if (!frame_ring) return makeError("frame ring: {}", frame_ring.error().message);
  PacketRingConfig packets;
  packets.name = "funkhaus-packets";
  packets.capacity = 16u << 20;
  packets.max_record_size = static_cast<uint32_t>(packets.capacity / 4);
  auto packet_ring = createPacketRing(packets);
  if (!packet_ring) return makeError("packet ring: {}", packet_ring.error().message);
  if (!sessions) sessions = ConsoleSessionSource::createWts(options.session_user);
  return std::unique_ptr<WindowsHost>(new WindowsHost(
      options, std::move(sessions), std::move(*frame_ring), std::move(*packet_ring)));
}

WindowsHost::WindowsHost(const WindowsHostOptions& options,
                         std::unique_ptr<ConsoleSessionSource> sessions, SharedMemory frames,
                         SharedMemory packets)
    : options_(options),
      sessions_(std::move(sessions)),
      frames_(std::move(frames)),
      packets_(std::move(packets)) {}

WindowsHost::~WindowsHost() = default;

int WindowsHost::run(boost::asio::io_context& io, ServiceNotifier& notifier) {
  io_ = &io;
  notifier_ = &notifier;
  launcher_ = ProcessLauncher::createPlatform(io);
  const WorkerTimings timings;
  const RestartPolicyConfig policy;
  WorkerProcess::Delegate& delegate = *this;  // a private base: converted here
  capture_ =
      std::make_unique<WorkerProcess>(kCaptureRow, policy, timings, *launcher_, *clock_, delegate);
  encode_ =
      std::make_unique<WorkerProcess>(kEncodeRow, policy, timings, *launcher_, *clock_, delegate);
  control_ = std::make_unique<ControlServer>(io, static_cast<ControlServer::Handler&>(*this));
  if (auto listening =
          control_->listen(options_.control_pipe, RunMode::kSystem, options_.control_group);
      !listening) {
    spdlog::error("funkhausd: {}", listening.error().message);
    return 1;
  }
  session_ = sessions_->current();
  spdlog::info("funkhausd: at the console: {}; {}x{} at {} fps, workers from {}",
               describe(session_), options_.width, options_.height, options_.fps,
               options_.worker_dir);
  if (session_) {
    capture_->start();
    encode_->start();
  } else {
    // Nothing to wait for: the service runs, and the workers start when someone logs on.
    spdlog::info("funkhausd: nobody logged on at the console: the workers start once someone is");
    reported_ready_ = true;
    notifier.ready();
  }
  ticker_ = std::make_unique<boost::asio::steady_timer>(io);
  tick();
  io.run();
  ticker_.reset();
  control_.reset();
  encode_.reset();  // a worker still running is ended by its process object
  capture_.reset();
  launcher_.reset();  // its Job Object closes: nothing it started is left
  spdlog::info("funkhausd: stopped, exit code {}", stopping_.value_or(0));
  return stopping_.value_or(0);
}

void WindowsHost::tick() {
  capture_->tick();
  encode_->tick();
  const bool running =
      capture_->state() == WorkerState::kRunning && encode_->state() == WorkerState::kRunning;
  if (running && !reported_ready_ && !stopping_) {
    reported_ready_ = true;  // the service is RUNNING only once its workers are ready
    spdlog::info("funkhausd: workers ready");
    notifier_->ready();
  }
  if (stopping_ && !capture_->running() && !encode_->running()) {
    io_->stop();
    return;
  }
  ticker_->expires_after(kTick);
  ticker_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void WindowsHost::stopAll(int exit_code) {
  if (stopping_) return;
  stopping_ = exit_code;
  notifier_->stopping();
  encode_->stop();  // reverse start order
  capture_->stop();
}

void WindowsHost::onControl(ServiceControl control, uint32_t event) {
  if (stopping_) return;
  if (control != ServiceControl::kSessionChange) {
    spdlog::info("funkhausd: {}", control == ServiceControl::kStop ? "stop" : "shut-down");
    return stopAll(0);
  }
  auto now = sessions_->current();
  const SessionMove move = sessionMove(session_, now, event);
  if (move == SessionMove::kStay) return;
  spdlog::info("funkhausd: session change (event {}): {} -> {}", event, describe(session_),
               describe(now));
  session_ = std::move(now);
  if (move == SessionMove::kStop) {
    encode_->stop();  // reverse start order
    capture_->stop();
    return;
  }
  capture_->restart();  // stops it and starts it again at once (or starts it), as the new user
  encode_->restart();
}

Result<LaunchSpec> WindowsHost::prepareLaunch(WorkerProcess& worker) {
  if (!session_) return makeError("nobody logged on at the console");
  LaunchSpec spec;
  spec.path = options_.worker_dir + "\\" + std::string(worker.spec().binary) + ".exe";
  const std::string fps = std::to_string(options_.fps);
  if (worker.spec().kind == abi::WorkerKind::kCapture)
    spec.args = {"--source", "synthetic",
                 "--width",  std::to_string(options_.width),
                 "--height", std::to_string(options_.height),
                 "--fps",    fps};
  else
    spec.args = {"--fps", fps};
  if (options_.session_user) spec.credentials = Credentials{session_->id};
  return spec;
}

std::vector<HandedFd> WindowsHost::handOver(WorkerProcess& worker) {
  const auto frames = static_cast<uint32_t>(abi::RingId::kFrames);
  if (worker.spec().kind == abi::WorkerKind::kCapture)
    return {{abi::FdRole::kRingOut, frames, frames_.handle()}};
  return {{abi::FdRole::kRingIn, frames, frames_.handle()},
          {abi::FdRole::kRingOut, static_cast<uint32_t>(abi::RingId::kVideoPackets),
           packets_.handle()}};
}

void WindowsHost::onReady(WorkerProcess&) {}
void WindowsHost::onEvent(WorkerProcess&, const abi::EventBody&) {}
Result<void> WindowsHost::onConnection(WorkerProcess& worker, Message&) {
  return makeError("{} may not deposit connections", worker.name());
}
void WindowsHost::onRequest(WorkerProcess& worker, uint32_t id, const std::string&) {
  (void)worker.reply(id, R"({"ok":false,"error":"no requests on Windows yet"})");
}
void WindowsHost::onReaped(WorkerProcess&, uint32_t) {}

// Past what it repairs itself: funkhausd exits non-zero, and the SCM's failure action starts it
// again (installService sets it).
void WindowsHost::onEscalate(WorkerProcess& worker) {
  spdlog::error("funkhausd: {} keeps failing: exiting for the service manager to restart us",
                worker.name());
  stopAll(1);
}

void WindowsHost::onChanged(WorkerProcess&) {}

std::optional<std::string> WindowsHost::status(const ControlServer::Respond&) {
  const TimePoint now = clock_->now();
  nlohmann::json out = {{"ok", true},
                        {"mode", "service"},
                        {"pid", GetCurrentProcessId()},
                        {"host_workers", nlohmann::json::array()},
                        {"sessions", nlohmann::json::array()}};
  if (session_)
    out["sessions"].push_back(
        {{"id", std::to_string(session_->id)},
         {"user", session_->user},
         {"uid", nullptr},  // Windows has none: the session's token is the user
         {"type", "console"},
         {"class", "user"},
         {"workers", {workerStatusJson(*capture_, now), workerStatusJson(*encode_, now)}}});
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> WindowsHost::change(const ControlRequest& request, uint32_t,
                                               const ControlServer::Respond&) {
  using Kind = ControlRequest::Kind;
  if (request.kind != Kind::kRestart && request.kind != Kind::kStop && request.kind != Kind::kStart)
    return ControlServer::errorReply(
        "funkhausd on Windows answers status, restart, stop and start only so far");
  WorkerProcess* w = request.worker == capture_->name()  ? capture_.get()
                     : request.worker == encode_->name() ? encode_.get()
                                                         : nullptr;
  if (w == nullptr)
    return ControlServer::errorReply(
        fmt::format("no worker '{}' in this session or on this host", request.worker));
  if (stopping_) return ControlServer::errorReply("funkhausd is stopping");
  switch (request.kind) {
    case Kind::kRestart:
      spdlog::info("{}: restart requested", w->name());
      w->restart();
      break;
    case Kind::kStop:
      spdlog::info("{}: stop requested", w->name());
      w->stop();
      break;
    default:  // kStart
      if (w->running())
        return ControlServer::errorReply(fmt::format("{} is already running", w->name()));
      if (!session_) return ControlServer::errorReply("nobody logged on at the console");
      spdlog::info("{}: start requested", w->name());
      w->start();
      break;
  }
  return ControlServer::okReply();
}

}  // namespace funkhaus::supervisor
