// funkhausd's shell on Boost.Asio: wires the parts (session machine, worker processes behind
// the launcher, event router, control server, display leases, net endpoints, service
// notifier) to the event loop, signals, the 50 ms tick and the session source.
#include "funkhaus/supervisor/supervisor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/input_ring.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/platform/handle_passing.h"
#include "funkhaus/supervisor/control_server.h"
#include "funkhaus/supervisor/display_leases.h"
#include "funkhaus/supervisor/event_router.h"
#include "funkhaus/supervisor/latency_split.h"
#include "funkhaus/supervisor/log_memory.h"
#include "funkhaus/supervisor/net_endpoints.h"
#include "funkhaus/supervisor/process_launcher.h"
#include "funkhaus/supervisor/service_account.h"
#include "funkhaus/supervisor/service_notifier.h"
#include "funkhaus/supervisor/session_apps.h"
#include "funkhaus/supervisor/session_machine.h"
#include "funkhaus/supervisor/session_plan.h"
#include "funkhaus/supervisor/sound_server.h"
#include "funkhaus/supervisor/stats_recorder.h"
#include "funkhaus/supervisor/status_report.h"
#include "funkhaus/supervisor/uinput_devices.h"
#include "funkhaus/supervisor/worker_requests.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string defaultControlSocket(RunMode mode) {
  if (mode == RunMode::kSystem) return "/run/funkhaus/control.sock";
  if (const char* runtime = getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime == '/')
    return std::string(runtime) + "/funkhaus/control.sock";
  return "/tmp/funkhaus-" + std::to_string(geteuid()) + "/control.sock";
}

namespace {

constexpr auto kTick = 50ms;
// How long a burst of session-change notifications may take before funkhausd acts on it.
constexpr auto kSessionSettle = 100ms;
// How long a forwarded request (funkhausctl pair, ...) and the status's host-state may take.
constexpr auto kForwardTimeout = 5s;
constexpr auto kStatusTimeout = 1s;

std::string dumpSafe(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The web console's listening socket on [console] address and port; its bound port goes to
// `port`.
Result<UniqueFd> listenConsole(const ConsoleConfig& c, uint16_t& port) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, c.address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(c.port);
    length = sizeof *v4;
  } else if (inet_pton(AF_INET6, c.address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(c.port);
    length = sizeof *v6;
  } else {
    return makeError("console.address \"{}\" is not an IP address", c.address);
  }
  UniqueFd fd(::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return makeError("socket: {}", std::strerror(errno));
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
      ::listen(fd.get(), 64) != 0)
    return makeError("cannot listen on TCP port {} of {} for the web console: {}", c.port,
                     c.address, std::strerror(errno));
  length = sizeof storage;
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length) != 0)
    return makeError("getsockname: {}", std::strerror(errno));
  port = ntohs(storage.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  return fd;
}

}  // namespace

class Supervisor::Impl final : private SessionMachine::Hooks, private ControlServer::Handler {
 public:
  Impl(SupervisorOptions options, std::unique_ptr<SessionSource> sessions)
      : options_(std::move(options)),
        sessions_(std::move(sessions)),
        clock_(Clock::createSteady()),
        notifier_(ServiceNotifier::createPlatform()),
        launcher_(ProcessLauncher::createPlatform(io_)),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        tick_(io_),
        session_settle_(io_),
        leases_(io_),
        router_(*clock_),
        control_(io_, *this),
        apps_(*clock_, options_.config.stop_grace),
        sound_(*clock_, options_.config.restart, options_.config.stop_grace),
        machine_(options_.config, *launcher_, *clock_, *notifier_, *this),
        state_dir_(stateDirectory(options_.mode)),
        stats_(statsOptions(state_dir_, options_.mode)) {}

  int run() {
    // Before any socket opens: a funkhausd that cannot start its workers must not hold the
    // viewers' port open and never answer.
    std::vector<std::string> all = options_.config.workers;
    for (const std::string& host : hostWorkers(options_.config)) all.push_back(host);
    if (auto missing = checkWorkerBinaries(all, options_.worker_dir); !missing) {
      spdlog::critical("{}", missing.error().message);
      return abi::kExitUnsupported;  // permanent: systemd does not retry it
    }
    if (auto listening =
            control_.listen(options_.control_socket, options_.mode, options_.config.control_group);
        !listening) {
      spdlog::critical("control socket: {}", listening.error().message);
      return 1;
    }
    if (auto opened = stats_.open(); !opened)
      spdlog::warn("stats captures are off: {}", opened.error().message);
    // The endpoints of the session's net and of host workers (funkhaus-web's HTTP and HTTPS)
    // are opened once and outlive every worker.
    const bool session_net = anyHasDevice(Device::kNetEndpoints, options_.config.workers);
    const bool host_net = anyHasDevice(Device::kNetEndpoints, hostWorkers(options_.config));
    if (session_net || host_net) {
      using Protocols = std::span<const net::ProtocolDeclaration* const>;
      const Protocols protocols = !session_net ? Protocols()
                                  : options_.config.gamestream.enabled
                                      ? Protocols(net::kNetProtocols)
                                      : Protocols(net::kRtspOnly);
      auto endpoints =
          NetEndpoints::open(options_.config.net, protocols, &options_.config.gamestream);
      if (endpoints && host_net)
        if (auto web = endpoints->openWeb(options_.config.gamestream); !web)
          endpoints = web.error();
      if (!endpoints) {
        spdlog::critical("{}", endpoints.error().message);
        return 1;
      }
      net_.emplace(std::move(*endpoints));
      if (session_net) logViewerUrl(options_.config.net, net_->rtspPort(), net_->rtpPort());
      if (host_net)
        logGamestream(options_.config.gamestream, net_->port(abi::kEndpointGamestreamHttp),
                      net_->port(abi::kEndpointGamestreamHttps), state_dir_);
    }
    // The console's socket: without it the console tries itself and fails visibly in the status;
    // funkhausd and the stream go on.
    if (anyHasDevice(Device::kConsoleListener, hostWorkers(options_.config))) {
      auto console = listenConsole(options_.config.console, console_port_);
      if (console) {
        console_listener_ = std::move(*console);
        spdlog::info("web console on https://{}:{}/",
                     options_.config.console.address.find(':') != std::string::npos
                         ? "[" + options_.config.console.address + "]"
                         : options_.config.console.address,
                     console_port_);
      } else {
        spdlog::error("{}", console.error().message);
      }
    }
    auto session = sessions_->current();
    if (!session) {
      spdlog::critical("session: {}", session.error().message);
      return 1;
    }
    if (!*session) spdlog::info("no active session yet: waiting for one");
    machine_.startHost();  // with or without a session
    machine_.switchTo(*session);
    watchSessions();
    waitSignals();
    scheduleTick();
    io_.run();
    control_.close();
    return exit_code_;
  }

 private:
  // ---- start-up ---------------------------------------------------------------------------

  // Every worker of the config has its binary, executable, in the worker directory.
  // ---- the session's set (SessionMachine::Hooks) --------------------------------------------

  Result<void> openPlan(const SessionInfo& session) override {
    if (options_.mode == RunMode::kSystem && session.uid != geteuid())
      credentials_ = Credentials{session.uid, session.gid, session.groups};
    else
      credentials_.reset();
    plan_.reset();
    monitor_of_.clear();
    waiting_for_monitor_.clear();
    router_.forgetSticky();  // a new session's stream starts from the configured encoder
    auto plan = SessionPlan::create(options_.config, options_.config.workers);
    if (!plan) return plan.error();
    plan_.emplace(std::move(*plan));
    setUpSound(session);
    return {};
  }

  // The session's sound server for the workers that need one: its own, or one funkhausd starts
  // (before them; they retry on their own until it answers). Without one video goes on.
  void setUpSound(const SessionInfo& session) {
    sound_.stop("a new set starts");
    if (!options_.config.audio.enabled || options_.config.audio.source == "sync" ||
        !anyUsesSoundServer(options_.config.workers))
      return;
    if (auto own = sessionSoundServer(session.environment)) return sound_.useExternal(*own);
    SoundServerLaunch launch;
    launch.dir = soundServerDir(session);
    launch.credentials = credentials_;
    if (auto started = sound_.start(std::move(launch)); !started)
      spdlog::error("{}: the session has no sound until it is fixed", started.error().message);
  }

  // A private directory for funkhausd's server: in the session's runtime dir (system mode), or
  // beside the control socket (user mode; system mode when the session has no runtime dir).
  std::string soundServerDir(const SessionInfo& session) const {
    if (options_.mode == RunMode::kSystem)
      if (auto runtime = session.environment.find("XDG_RUNTIME_DIR");
          runtime != session.environment.end() && runtime->second.starts_with('/'))
        return runtime->second + "/funkhaus-pulse";
    const std::string& socket = options_.control_socket;
    const std::string run_dir = socket.substr(0, socket.rfind('/'));
    return run_dir + "/pulse-" + std::to_string(session.uid);
  }

  void setEnding() override {
    apps_.stop("its session ends");
    leases_.release();
  }
  void closePlan() override {
    plan_.reset();
    sound_.stop("the session's workers are gone");
  }

  // Workers on the monitor start once the session's driver leased it (followMonitor()).
  bool startsLater(WorkerProcess& w) override {
    if (!w.spec().on_monitor || !plan_ || plan_->ring(abi::RingId::kDisplay) == nullptr ||
        leases_.current())
      return false;
    spdlog::info("{}: starts when the session's virtual monitor is there", w.name());
    waiting_for_monitor_.insert(&w);
    return true;
  }

  Result<LaunchSpec> prepareLaunch(WorkerProcess& w, const SessionInfo& session) override {
    if (hasDevice(w.spec(), Device::kDisplayControl)) {
      // The control plane: funkhausd keeps one end, the driver gets the other after hello. (On
      // Windows the driver will have to open its end itself: handles sent on a pipe go to the
      // process that opened the other end, here funkhausd.)
      auto control = platform::messageChannelPair();
      if (!control) return makeError("display control channel: {}", control.error().message);
      leases_.attach(std::move(control->first));
      control_peers_[&w] = std::move(control->second);
    }
    LaunchSpec spec;
    spec.path = options_.worker_dir + "/" + std::string(w.spec().binary);
    spec.args = w.spec().args(options_.config);
    if (w.spec().state_dir) spec.args.insert(spec.args.end(), {"--state-dir", state_dir_});
    spec.environment = session.environment;
    if (w.spec().environment != nullptr)
      for (const std::string& entry : w.spec().environment(options_.config)) {
        const size_t eq = entry.find('=');
        spec.environment[entry.substr(0, eq)] = eq == std::string::npos ? "" : entry.substr(eq + 1);
      }
    if (w.spec().on_monitor) {
      const auto& monitor = leases_.current();
      monitor_of_[&w] = monitor ? monitor->display : "";
      if (monitor) spec.environment["DISPLAY"] = monitor->display;
      if (monitor && !monitor->xauthority.empty())
        spec.environment["XAUTHORITY"] = monitor->xauthority;
    }
    if (hasDevice(w.spec(), Device::kUinput)) openUinputFor(w);
    if (w.spec().sound_server && sound_.ours()) spec.environment["PULSE_SERVER"] = sound_.address();
    spec.credentials = credentials_;
    if (w.spec().credentials == CredentialPolicy::kServiceUser) {
      auto service = serviceCredentials(options_.mode, kServiceUser);
      if (!service) return service.error();
      spec.credentials = *service;
    }
    return spec;
  }

  std::vector<HandedFd> handOver(WorkerProcess& w) override {
    std::vector<HandedFd> fds;
    if (plan_)
      for (const HandedFd& f : plan_->ringFds(w.spec())) fds.push_back(f);
    if (hasDevice(w.spec(), Device::kNetEndpoints) && net_)
      for (const HandedFd& f : net_->handedFds(w.spec().kind)) fds.push_back(f);
    if (hasDevice(w.spec(), Device::kConsoleListener) && console_listener_.valid())
      fds.push_back({abi::FdRole::kEndpoint, abi::kEndpointConsoleHttps, console_listener_.get()});
    if (auto peer = control_peers_.find(&w); peer != control_peers_.end())
      fds.push_back({abi::FdRole::kDevice, static_cast<uint32_t>(abi::DeviceId::kDisplayControl),
                     peer->second.get()});
    if (auto uinput = uinput_fds_.find(&w); uinput != uinput_fds_.end())
      for (const UniqueFd& fd : uinput->second)
        fds.push_back(
            {abi::FdRole::kDevice, static_cast<uint32_t>(abi::DeviceId::kUinput), fd.get()});
    return fds;
  }

  void onReady(WorkerProcess& w) override {
    control_peers_.erase(&w);  // the driver has its copy
    uinput_fds_.erase(&w);     // ours would keep the worker's devices alive after it
    if (hasDevice(w.spec(), Device::kDisplayControl)) leaseMonitor(w);
    for (const auto& [command, arg] : router_.sticky(w.spec()))  // the stream's settings
      if (auto sent = w.command(command, arg); !sent)
        spdlog::warn("{}: {}", w.name(), sent.error().message);
  }

  void onEvent(WorkerProcess& w, const abi::EventBody& event) override {
    EventRouter::Sinks sinks;
    sinks.command = [this](const WorkerSpec& target, abi::Command command, uint64_t arg) {
      WorkerProcess* to = machine_.find(target.name);
      return to != nullptr && to->command(command, arg).ok();
    };
    sinks.log = [](const WorkerSpec& from, const abi::EventBody& e) { logEvent(from, e); };
    sinks.display_mode = [this](const abi::EventBody& e) { viewerMode(e); };
    if (!router_.route(w.spec(), event, options_.config.workers, options_.config, sinks))
      spdlog::debug("{}: event {} not forwarded", w.name(), event.event);
  }

  Result<void> onConnection(WorkerProcess&, Message& message) override {
    if (!net_) return makeError("no connections are kept in this funkhausd");
    if (auto* deposit = std::get_if<ConnectionDepositMessage>(&message))
      return net_->deposit(deposit->slot, std::move(deposit->fd));
    if (auto* release = std::get_if<ConnectionReleaseMessage>(&message))
      net_->release(release->slot);
    return {};
  }

  // A worker's request (untrusted JSON): answered from what funkhausd knows of the session.
  void onRequest(WorkerProcess& w, uint32_t id, const std::string& text) override {
    if (w.spec().control_requests) return controlRequest(w, id, text);
    StreamView view;
    const SessionInfo& s = machine_.session();
    view.session = machine_.state() == SessionMachine::State::kRunning && !s.id.empty();
    view.greeter = s.klass == "greeter";
    view.rtsp_port = net_ ? net_->gamestreamRtspPort() : 0;
    view.streaming_client = net_ ? net_->streamingClient() : "";
    for (const auto& sw : machine_.workers())
      if (hasDevice(sw->spec(), Device::kNetEndpoints)) {
        view.net_state = toString(sw->state());
        view.net_ready = sw->ready() && sw->state() == WorkerState::kRunning;
      }
    RequestAnswer answer = answerWorkerRequest(w.spec(), text, view);
    if (!answer.log.empty()) spdlog::info("{}", answer.log);
    if (answer.cancel) apps_.stop("the client cancelled");
    if (answer.launch_app != 0)
      if (auto started = launchApp(answer.launch_app, answer.resume); !started) {
        answer.reply = ControlServer::errorReply(started.error().message);
        answer.publish.reset();
      }
    if (answer.publish && net_) net_->publishLaunch(*answer.publish);
    if (auto sent = w.reply(id, answer.reply); !sent)
      spdlog::warn("{}: answering request {}: {}", w.name(), id, sent.error().message);
  }

  // The web console's request: a control request its row allows, answered as the control socket
  // answers funkhausctl's, with the control group's rights (the console checked its user's login
  // and CSRF token); logged with the console's uid.
  void controlRequest(WorkerProcess& w, uint32_t id, const std::string& text) {
    WorkerProcess* from = &w;
    auto respond = [from, id](const std::string& reply) {
      if (auto sent = from->reply(id, reply); !sent)
        spdlog::warn("{}: answering request {}: {}", from->name(), id, sent.error().message);
    };
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    const std::string cmd = j.is_object() && j.contains("cmd") && j["cmd"].is_string()
                                ? j["cmd"].get<std::string>().substr(0, 40)
                                : std::string();
    if (!maySend(w.spec(), cmd))
      return respond(ControlServer::errorReply(
          fmt::format("funkhausd takes no request '{}' from {}", cmd, w.name())));
    auto request = parseControlRequest(text);
    if (!request) return respond(ControlServer::errorReply(request.error().message));
    if (request->kind == ControlRequest::Kind::kLogs) {
      // A reply is one message: the newest lines that fit, and how many older ones did not.
      size_t left_out = 0;
      auto lines = newestLinesWithin(recentLogLines(std::chrono::seconds(request->seconds)),
                                     abi::kMaxMessageText - 256, &left_out);
      return respond(dumpSafe({{"ok", true}, {"lines", std::move(lines)}, {"left_out", left_out}}));
    }
    uint32_t uid = geteuid();
    if (auto service = serviceCredentials(options_.mode, kServiceUser); service && *service)
      uid = (*service)->uid;
    ControlServer::dispatch(*this, *request, uid, respond);
  }

  // The [[gamestream.apps]] command of app `id` in the session, as its user, on its virtual
  // monitor when it has one (Desktop, id 1, runs nothing; a resumed app that runs stays).
  Result<void> launchApp(uint32_t id, bool resume) {
    const SessionInfo& s = machine_.session();
    if (resume && apps_.runs(id, s.id)) return {};
    const auto& m = leases_.current();
    auto launch = appLaunch(options_.config.gamestream, id, s, credentials_,
                            m ? m->display : std::string(), m ? m->xauthority : std::string(),
                            sound_.ours() ? sound_.address() : std::string());
    if (!launch) {
      apps_.stop("the client chose another app");
      return launch.error();
    }
    if (!*launch) return apps_.stop("the client chose Desktop"), Result<void>();
    return apps_.start(std::move(**launch));
  }

  // The owner cleans up: the reaped worker's roles and slots in its rings go back at once, so
  // its successor attaches whatever became of its pid number (nothing is guessed from it).
  void onReaped(WorkerProcess& w, uint32_t pid) override {
    if (hasDevice(w.spec(), Device::kDisplayControl)) {
      leases_.detach();  // its monitors are gone with it; the next driver gets a new lease
      control_peers_.erase(&w);
    }
    if (!plan_) return;
    for (const RingEdge& e : activeEdges(w.spec(), options_.config)) {
      const PlannedRing* ring = plan_->ring(e.ring);
      if (ring == nullptr) continue;
      if (ring->kind == RingKind::kPacket || ring->kind == RingKind::kInput) {
        auto ok = ring->kind == RingKind::kPacket ? releasePacketRingPeer(ring->memory, pid)
                                                  : releaseInputRingPeer(ring->memory, pid);
        if (!ok) spdlog::warn("{}: {} ring: {}", w.name(), ring->name, ok.error().message);
        continue;
      }
      auto released = releaseFrameRingPeer(ring->memory, pid);
      if (!released)
        spdlog::warn("{}: {} ring: {}", w.name(), ring->name, released.error().message);
      else if (*released > 0)
        spdlog::info("{}: {} slot(s) of the {} ring it held released", w.name(), *released,
                     ring->name);
    }
  }

  void finished(int exit_code) override {
    exit_code_ = exit_code;
    io_.stop();
  }

  // ---- the session's virtual monitor and events ---------------------------------------------

  // The ring the driver `w` fills goes with the lease.
  void leaseMonitor(const WorkerProcess& w) {
    const PlannedRing* ring = plan_ ? plan_->leasedRing(w.spec()) : nullptr;
    if (ring == nullptr || !leases_.attached()) return;
    leases_.leaseSessionMonitor(options_.config.vdisplay, ring->memory.handle(),
                                machine_.session().id, [this] {
                                  machine_.updateStatus();
                                  followMonitor();
                                });
  }

  // Workers that work on the session's monitor move to a new one (they started without it, or
  // on the one before).
  void followMonitor() {
    const auto& monitor = leases_.current();
    if (!monitor) return;
    for (const auto& w : machine_.workers()) {
      if (waiting_for_monitor_.erase(w.get()) > 0) {
        w->start();
      } else if (w->spec().on_monitor && w->pid() && monitor_of_[w.get()] != monitor->display) {
        spdlog::info("{}: to virtual monitor {} (DISPLAY={})", w->name(), monitor->id,
                     monitor->display);
        w->restart();
      }
    }
  }

  void openUinputFor(const WorkerProcess& w) {
    auto fds = openUinput(kUinputDevices);
    if (fds) {
      uinput_fds_[&w] = std::move(*fds);
      return;
    }
    uinput_fds_.erase(&w);
    if (uinput_error_ != fds.error().message)  // once, not at every restart
      spdlog::warn("{}: no virtual pads, touch screen or pen: {}", w.name(), fds.error().message);
    uinput_error_ = fds.error().message;
  }

  // A viewer's mode request: width << 32 | height << 16 | refresh Hz (0: any).
  void viewerMode(const abi::EventBody& event) {
    leases_.viewerMode(
        {static_cast<uint32_t>(event.arg >> 32), static_cast<uint32_t>((event.arg >> 16) & 0xffff),
         static_cast<uint32_t>(event.arg & 0xffff) * 1000},
        [this] { machine_.updateStatus(); });
  }

  // ---- control requests (ControlServer::Handler) --------------------------------------------

  // The status, with the GameStream section from funkhaus-web's host-state when it runs.
  std::optional<std::string> status(const ControlServer::Respond& respond) override {
    nlohmann::json out = statusJson();
    const WorkerSpec* spec = servingWorker("host-state");
    WorkerProcess* web = spec != nullptr ? machine_.find(spec->name) : nullptr;
    if (web == nullptr || !web->ready()) {
      if (web != nullptr)
        out["gamestream"] = gamestreamJson(
            *web, {{"error", fmt::format("{} is {}", web->spec().binary, toString(web->state()))}});
      return dumpSafe(out);
    }
    auto asked = web->request(R"({"cmd":"host-state"})", kStatusTimeout,
                              [this, out, respond, web](Result<std::string> reply) mutable {
                                out["gamestream"] = gamestreamJson(*web, hostStateStatus(reply));
                                respond(dumpSafe(out));
                              });
    if (!asked) {
      out["gamestream"] = gamestreamJson(*web, {{"error", asked.error().message}});
      return dumpSafe(out);
    }
    return std::nullopt;
  }

  // What funkhausd knows (sockets, config) and what the worker said (`state`, checked).
  nlohmann::json gamestreamJson(const WorkerProcess& web, nlohmann::json state) const {
    GamestreamFacts f{options_.config.gamestream,
                      web.name(),
                      toString(web.state()),
                      net_ ? net_->port(abi::kEndpointGamestreamHttp) : uint16_t{0},
                      net_ ? net_->port(abi::kEndpointGamestreamHttps) : uint16_t{0},
                      state_dir_,
                      apps_.runningTitle()};
    return gamestreamStatus(f, std::move(state));
  }

  // A request a worker serves (funkhausctl pair, clients, ...): forwarded, its reply checked.
  std::optional<std::string> forward(const ControlRequest& request, uint32_t peer_uid,
                                     const ControlServer::Respond& respond) {
    const WorkerSpec* spec = servingWorker(request.command);
    WorkerProcess* w = spec != nullptr ? machine_.find(spec->name) : nullptr;
    if (w == nullptr)
      return ControlServer::errorReply(
          fmt::format("{} is not running: the config does not enable it ([gamestream] or [console] "
                      "enabled = false?)",
                      spec != nullptr ? spec->binary : "the worker"));
    if (!w->ready())
      return ControlServer::errorReply(fmt::format(
          "{} is not running ({}{}{}): try again when funkhausctl status shows it "
          "running",
          w->spec().binary, toString(w->state()), w->failure().empty() ? "" : ": ", w->failure()));
    if (isMutating(request))
      spdlog::info("{}: {} requested by uid {}", w->name(), request.command, peer_uid);
    const std::string name(w->spec().binary);
    auto sent = w->request(forwardedRequestText(request), kForwardTimeout,
                           [this, respond, name](Result<std::string> reply) {
                             std::string checked = checkedForwardReply(name, reply);
                             endUnpairedStream(checked);
                             respond(std::move(checked));
                           });
    if (!sent) return ControlServer::errorReply(sent.error().message);
    return std::nullopt;
  }

  // An unpaired client that streams loses its stream at once (its key is no longer good).
  void endUnpairedStream(const std::string& checked_reply) {
    const auto j = nlohmann::json::parse(checked_reply, nullptr, false);
    if (!net_ || !j.is_object() || !j.contains("id") || !j["id"].is_string()) return;
    if (j["id"].get<std::string>() != net_->streamingClient()) return;
    spdlog::info("the unpaired client streams: its stream ends");
    net_->publishLaunch(abi::GamestreamLaunch{});
  }

  std::optional<std::string> change(const ControlRequest& request, uint32_t peer_uid,
                                    const ControlServer::Respond& respond) override {
    if (auto reply = recorderRequest(request, peer_uid)) return reply;
    if (request.kind == ControlRequest::Kind::kForward) return forward(request, peer_uid, respond);
    if (request.kind == ControlRequest::Kind::kMode) {
      if (!leases_.current())
        return ControlServer::errorReply(
            "this session has no virtual monitor (is vdisplay running?)");
      const uint32_t refresh = request.refresh_hz != 0
                                   ? request.refresh_hz
                                   : leases_.current()->mode.refresh_millihz / 1000;
      spdlog::info("virtual monitor: mode {}x{} at {} Hz requested by uid {}", request.width,
                   request.height, refresh, peer_uid);
      leases_.setMode(
          {request.width, request.height, refresh * 1000},
          [this, respond](Result<LeasedMonitor> m) {
            if (!m) return respond(ControlServer::errorReply(m.error().message));
            machine_.updateStatus();
            respond(nlohmann::json({{"ok", true},
                                    {"width", m->mode.width},
                                    {"height", m->mode.height},
                                    {"display", m->display}})
                        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
          });
      return std::nullopt;
    }
    WorkerProcess* w = machine_.find(request.worker);
    if (w == nullptr)
      return ControlServer::errorReply(
          fmt::format("no worker '{}' in this session or on this host", request.worker));
    switch (request.kind) {
      case ControlRequest::Kind::kRestart:
        spdlog::info("{}: restart requested by uid {}", w->name(), peer_uid);
        w->restart();
        break;
      case ControlRequest::Kind::kStop:
        spdlog::info("{}: stop requested by uid {}", w->name(), peer_uid);
        w->stop();
        break;
      case ControlRequest::Kind::kStart:
        if (w->running())
          return ControlServer::errorReply(fmt::format("{} is already running", w->name()));
        spdlog::info("{}: start requested by uid {}", w->name(), peer_uid);
        w->start();
        break;
      default:  // answered above
        break;
    }
    machine_.updateStatus();
    return ControlServer::okReply();
  }

  // The stats recorder's requests and logs (none other: nullopt).
  std::optional<std::string> recorderRequest(const ControlRequest& request, uint32_t peer_uid) {
    auto fail = [](const Error& e) { return ControlServer::errorReply(e.message); };
    switch (request.kind) {
      case ControlRequest::Kind::kStatsStart: {
        auto id = stats_.start(request.name, clock_->now(), statusJson());
        if (!id) return fail(id.error());
        spdlog::info("stats: capture {} armed by uid {}", *id, peer_uid);
        return dumpSafe({{"ok", true}, {"id", *id}});
      }
      case ControlRequest::Kind::kStatsStop: {
        auto stopped = stats_.stop();
        if (!stopped) return fail(stopped.error());
        return dumpSafe({{"ok", true}, {"id", stopped->id}, {"samples", stopped->samples}});
      }
      case ControlRequest::Kind::kStatsList: {
        nlohmann::json out = stats_.list();
        out["ok"] = true;
        return dumpSafe(out);
      }
      case ControlRequest::Kind::kStatsShow: {
        auto capture = stats_.show(request.id);
        if (!capture) return fail(capture.error());
        if (request.from != 0 || request.count != 0)
          *capture = statsSlice(*capture, request.from, request.count);
        return dumpSafe({{"ok", true}, {"capture", std::move(*capture)}});
      }
      case ControlRequest::Kind::kStatsRm: {
        auto removed = stats_.remove(request.id);
        if (!removed) return fail(removed.error());
        return ControlServer::okReply();
      }
      case ControlRequest::Kind::kLogs:
        return dumpSafe(
            {{"ok", true}, {"lines", recentLogLines(std::chrono::seconds(request.seconds))}});
      default:
        return std::nullopt;
    }
  }

  static StatsRecorderOptions statsOptions(const std::string& state_dir, RunMode mode) {
    StatsRecorderOptions o;
    o.dir = state_dir + "/stats";
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    o.host = host;
    o.create_parent = mode == RunMode::kUser;  // system mode: the package's /var/lib/funkhaus
    return o;
  }

  nlohmann::json statusJson() const {
    const TimePoint now = clock_->now();
    nlohmann::json workers = nlohmann::json::array();
    std::vector<std::string> names;
    for (const auto& wp : machine_.workers()) {
      workers.push_back(workerStatusJson(*wp, now));
      names.push_back(wp->name());
    }
    const SessionInfo& s = machine_.session();
    nlohmann::json session = {{"id", s.id},     {"user", s.user},   {"uid", s.uid},
                              {"type", s.type}, {"class", s.klass}, {"workers", workers}};
    const auto chain = videoChain(names, options_.config, [&](std::string_view name) {
      for (const auto& wp : machine_.workers())
        if (wp->name() == name) return wp->statusPage();
      return static_cast<const abi::WorkerStatusPage*>(nullptr);
    });
    if (!chain.empty()) session["latency"] = latencySplitJson(chain);
    if (plan_) session["rings"] = ringsStatusJson(*plan_);
    if (net_ && options_.config.gamestream.enabled)
      session["gamestream"] = net_->gamestreamStream(monotonicNs());
    if (const auto& m = leases_.current())
      session["monitors"] =
          nlohmann::json::array({{{"id", m->id},
                                  {"display", m->display},
                                  {"xauthority", m->xauthority},
                                  {"width", m->mode.width},
                                  {"height", m->mode.height},
                                  {"refresh_hz", m->mode.refresh_millihz / 1000.0},
                                  {"generation", m->generation}}});
    else if (plan_ && plan_->ring(abi::RingId::kDisplay))
      session["monitors"] = nlohmann::json::array();
    if (!leases_.lastError().empty()) session["vdisplay_error"] = leases_.lastError();
    if (sound_.state() != SoundServer::State::kNone || !sound_.failure().empty())
      session["sound_server"] = soundServerStatusJson(sound_);
    nlohmann::json out = {
        {"ok", true},
        {"mode", toString(options_.mode)},
        {"pid", getpid()},
        {"sessions", s.id.empty() ? nlohmann::json::array() : nlohmann::json::array({session})}};
    nlohmann::json host = nlohmann::json::array();
    for (const auto& wp : machine_.hostWorkers()) host.push_back(workerStatusJson(*wp, now));
    out["host_workers"] = host;
    if (console_listener_.valid()) {
      const std::string& a = options_.config.console.address;
      out["console"] = {{"address", a},
                        {"port", console_port_},
                        {"url", fmt::format("https://{}:{}/",
                                            a.find(':') != std::string::npos ? "[" + a + "]" : a,
                                            console_port_)}};
    }
    if (net_ && net_->rtspPort() != 0)
      out["net"] = {{"rtsp_port", net_->rtspPort()},
                    {"rtp_port", net_->rtpPort()},
                    {"path", options_.config.net.path},
                    {"kept_viewer_sockets", net_->keptViewers()}};
    return out;
  }

  // ---- timers, signals, reload, sessions ----------------------------------------------------

  void scheduleTick() {
    tick_.expires_after(kTick);
    tick_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      machine_.tick();
      apps_.tick();
      stats_.tick(clock_->now(), [this] { return statusJson(); });  // not armed: a flag's load
      sound_.tick();
      if (notifier_->watchdogEnabled()) notifier_->watchdog();
      scheduleTick();
    });
  }

  void waitSignals() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload();
        waitSignals();
        return;
      }
      spdlog::info("signal {}: stopping every worker", signal);
      notifier_->stopping();
      machine_.shutdown(0);
    });
  }

  void reload() {
    if (options_.config_path.empty()) {
      spdlog::info("SIGHUP: no config file to reload");
      return;
    }
    auto config = loadConfig(options_.config_path, options_.config_required);
    if (!config) {
      spdlog::error("SIGHUP: config not reloaded: {}", config.error().message);
      return;
    }
    auto sessions = makeSessionSource(*config, options_.mode);
    if (!sessions) {
      spdlog::error("SIGHUP: config not reloaded: {}", sessions.error().message);
      return;
    }
    // Sockets and session watch stay, and so does the host set; the rest of the config applies
    // from the next spawn.
    config->net = options_.config.net;
    config->gamestream.enabled = options_.config.gamestream.enabled;
    config->gamestream.base_port = options_.config.gamestream.base_port;
    config->gamestream.listen_address = options_.config.gamestream.listen_address;
    config->console = options_.config.console;  // its socket and the host set stay
    resolveDefaults(*config, options_.worker_dir);
    options_.config = std::move(*config);
    machine_.setConfig(options_.config);
    control_.setControlGroup(options_.config.control_group);
    sessions_ = std::move(*sessions);
    watchSessions();
    machine_.refresh(*sessions_, "SIGHUP");
  }

  // logind fills in a new session's fields over a few milliseconds: settle before moving the
  // workers once.
  void watchSessions() {
    sessions_->watch(io_, [this] {
      session_settle_.expires_after(kSessionSettle);
      session_settle_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) machine_.refresh(*sessions_, "session change");
      });
    });
  }

  SupervisorOptions options_;
  std::unique_ptr<SessionSource> sessions_;
  std::unique_ptr<Clock> clock_;
  asio::io_context io_;
  std::unique_ptr<ServiceNotifier> notifier_;
  std::unique_ptr<ProcessLauncher> launcher_;
  asio::signal_set signals_;
  asio::steady_timer tick_;
  asio::steady_timer session_settle_;
  DisplayLeases leases_;
  std::optional<NetEndpoints> net_;
  UniqueFd console_listener_;  // the web console's, kept for its successors
  uint16_t console_port_ = 0;
  std::optional<SessionPlan> plan_;
  std::optional<Credentials> credentials_;
  std::map<const WorkerProcess*, UniqueFd> control_peers_;  // driver ends until it is ready
  std::map<const WorkerProcess*, std::vector<UniqueFd>> uinput_fds_;  // until it is ready
  std::string uinput_error_;
  std::map<const WorkerProcess*, std::string> monitor_of_;  // the DISPLAY it was started on
  std::set<const WorkerProcess*> waiting_for_monitor_;      // startsLater() said so
  EventRouter router_;
  ControlServer control_;
  SessionApps apps_;
  SoundServer sound_;       // stopped after the workers that use it
  SessionMachine machine_;  // its workers go first
  std::string state_dir_;   // host workers' --state-dir
  StatsRecorder stats_;     // its armed capture is saved before the rest goes
  int exit_code_ = 0;
};

Supervisor::Supervisor(SupervisorOptions options, std::unique_ptr<SessionSource> sessions)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(sessions))) {}

Supervisor::~Supervisor() = default;

int Supervisor::run() { return impl_->run(); }

}  // namespace funkhaus::supervisor
