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

// The worker table's net row: its arguments, events and rules as on Linux.
const WorkerSpec& netRow() {
  for (const WorkerSpec& w : workerTable())
    if (w.kind == abi::WorkerKind::kNet) return w;
  std::abort();  // the table always has it
}

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
  auto net = NetEndpoints::open(options.net);
  if (!net) return net.error();
  if (!sessions) sessions = ConsoleSessionSource::createWts(options.session_user);
  return std::unique_ptr<WindowsHost>(new WindowsHost(options, std::move(sessions),
                                                      std::move(*frame_ring),
                                                      std::move(*packet_ring), std::move(*net)));
}

WindowsHost::WindowsHost(const WindowsHostOptions& options,
                         std::unique_ptr<ConsoleSessionSource> sessions, SharedMemory frames,
                         SharedMemory packets, NetEndpoints net)
    : options_(options),
      sessions_(std::move(sessions)),
      frames_(std::move(frames)),
      packets_(std::move(packets)),
      net_(std::move(net)) {
  config_.net = options_.net;
}

std::vector<WorkerProcess*> WindowsHost::workers() const {
  return {capture_.get(), encode_.get(), net_worker_.get()};
}

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
  net_worker_ =
      std::make_unique<WorkerProcess>(netRow(), policy, timings, *launcher_, *clock_, delegate);
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
  spdlog::info("funkhausd: viewers connect to rtsp://HOST:{}{} (RTP/RTCP on UDP {}; {})",
               net_.rtspPort(), options_.net.path, net_.rtpPort(),
               options_.net.rtsp_password.empty() ? "viewers on this host only"
                                                  : "others sign in as " + options_.net.rtsp_user);
  if (session_) {
    for (WorkerProcess* w : workers()) w->start();
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
  net_worker_.reset();  // a worker still running is ended by its process object
  encode_.reset();
  capture_.reset();
  launcher_.reset();  // its Job Object closes: nothing it started is left
  spdlog::info("funkhausd: stopped, exit code {}", stopping_.value_or(0));
  return stopping_.value_or(0);
}

void WindowsHost::tick() {
  const auto all = workers();
  for (WorkerProcess* w : all) w->tick();
  const bool running = std::all_of(all.begin(), all.end(), [](const WorkerProcess* w) {
    return w->state() == WorkerState::kRunning;
  });
  if (running && !reported_ready_ && !stopping_) {
    reported_ready_ = true;  // the service is RUNNING only once its workers are ready
    spdlog::info("funkhausd: workers ready");
    notifier_->ready();
  }
  if (stopping_ &&
      std::none_of(all.begin(), all.end(), [](const WorkerProcess* w) { return w->running(); })) {
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
  stopWorkers();
}

void WindowsHost::stopWorkers() {
  const auto all = workers();
  for (auto it = all.rbegin(); it != all.rend(); ++it) (*it)->stop();  // reverse start order
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
  if (move == SessionMove::kStop) return stopWorkers();
  // Each stops and starts again at once (or starts), as the new user.
  for (WorkerProcess* w : workers()) w->restart();
}

Result<LaunchSpec> WindowsHost::prepareLaunch(WorkerProcess& worker) {
  if (!session_) return makeError("nobody logged on at the console");
  LaunchSpec spec;
  spec.path = options_.worker_dir + "\\" + std::string(worker.spec().binary) + ".exe";
  const std::string fps = std::to_string(options_.fps);
  if (worker.spec().kind == abi::WorkerKind::kCapture) {
    spec.args = {"--source", "synthetic",
                 "--width",  std::to_string(options_.width),
                 "--height", std::to_string(options_.height),
                 "--fps",    fps};
  } else if (worker.spec().kind == abi::WorkerKind::kEncode) {
    spec.args = {"--fps", fps};
  } else {  // the table's row: as on Linux
    if (worker.spec().args != nullptr) spec.args = worker.spec().args(config_);
    if (worker.spec().environment != nullptr)
      for (const std::string& entry : worker.spec().environment(config_)) {
        const size_t eq = entry.find('=');
        spec.environment[entry.substr(0, eq)] = eq == std::string::npos ? "" : entry.substr(eq + 1);
      }
  }
  if (options_.session_user) spec.credentials = Credentials{session_->id};
  return spec;
}

std::vector<HandedFd> WindowsHost::handOver(WorkerProcess& worker) {
  const auto frames = static_cast<uint32_t>(abi::RingId::kFrames);
  const auto packets = static_cast<uint32_t>(abi::RingId::kVideoPackets);
  switch (worker.spec().kind) {
    case abi::WorkerKind::kCapture:
      return {{abi::FdRole::kRingOut, frames, frames_.handle()}};
    case abi::WorkerKind::kEncode:
      return {{abi::FdRole::kRingIn, frames, frames_.handle()},
              {abi::FdRole::kRingOut, packets, packets_.handle()}};
    default: {  // net: the packets, the state page, its endpoints and the viewers it kept
      std::vector<HandedFd> fds{{abi::FdRole::kRingIn, packets, packets_.handle()}};
      for (const HandedFd& f : net_.handedFds(worker.spec().kind)) fds.push_back(f);
      return fds;
    }
  }
}

void WindowsHost::onReady(WorkerProcess&) {}

// A viewer that starts or lost packets asks for a keyframe: the encoder makes one. (The other
// events of the net row — modes, codecs, audio — have no one to go to here yet.)
void WindowsHost::onEvent(WorkerProcess& worker, const abi::EventBody& event) {
  if (worker.spec().kind == abi::WorkerKind::kNet &&
      event.event == static_cast<uint32_t>(abi::Event::kKeyframeRequest) && encode_->ready())
    (void)encode_->command(abi::Command::kKeyframe, 0);
}

// What net keeps for its viewers (validated by NetEndpoints: net is untrusted).
Result<void> WindowsHost::onConnection(WorkerProcess&, Message& message) {
  if (auto* deposit = std::get_if<ConnectionDepositMessage>(&message))
    return net_.deposit(deposit->slot, std::move(deposit->fd));
  if (auto* release = std::get_if<ConnectionReleaseMessage>(&message)) net_.release(release->slot);
  return {};
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
  if (session_) {
    nlohmann::json rows = nlohmann::json::array();
    for (WorkerProcess* w : workers()) rows.push_back(workerStatusJson(*w, now));
    out["sessions"].push_back(
        {{"id", std::to_string(session_->id)},
         {"user", session_->user},
         {"uid", nullptr},  // Windows has none: the session's token is the user
         {"type", "console"},
         {"class", "user"},
         {"workers", rows}});
  }
  out["net"] = {
      {"rtsp_port", net_.rtspPort()}, {"rtp_port", net_.rtpPort()}, {"path", options_.net.path}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> WindowsHost::change(const ControlRequest& request, uint32_t,
                                               const ControlServer::Respond&) {
  using Kind = ControlRequest::Kind;
  if (request.kind != Kind::kRestart && request.kind != Kind::kStop && request.kind != Kind::kStart)
    return ControlServer::errorReply(
        "funkhausd on Windows answers status, restart, stop and start only so far");
  WorkerProcess* w = nullptr;
  for (WorkerProcess* candidate : workers())
    if (candidate->name() == request.worker) w = candidate;
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
