// funkhausd core on Boost.Asio: workers, heartbeats, restarts, control socket, sd_notify.
#include "funkhaus/supervisor/supervisor.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <array>
#include <boost/asio.hpp>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/channel.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/supervisor/control_protocol.h"
#include "funkhaus/supervisor/display_leases.h"
#include "funkhaus/supervisor/net_endpoints.h"
#include "funkhaus/supervisor/restart_policy.h"
#include "funkhaus/supervisor/session_plan.h"
#include "funkhaus/supervisor/spawn.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using namespace std::chrono_literals;

std::string defaultControlSocket(RunMode mode) {
  if (mode == RunMode::kSystem) return "/run/funkhaus/control.sock";
  if (const char* runtime = getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime == '/')
    return std::string(runtime) + "/funkhaus/control.sock";
  return "/tmp/funkhaus-" + std::to_string(geteuid()) + "/control.sock";
}

namespace {

constexpr auto kTick = 50ms;
constexpr auto kHelloTimeout = 5s;
// How long a burst of session-change notifications may take before funkhausd acts on it.
constexpr auto kSessionSettle = 100ms;

enum class WorkerState { kStarting, kRunning, kBackoff, kStopping, kStopped, kFailed };

const char* toString(WorkerState s) {
  switch (s) {
    case WorkerState::kStarting:
      return "starting";
    case WorkerState::kRunning:
      return "running";
    case WorkerState::kBackoff:
      return "backoff";
    case WorkerState::kStopping:
      return "stopping";
    case WorkerState::kStopped:
      return "stopped";
    case WorkerState::kFailed:
      return "failed";
  }
  return "?";
}

// What the supervisor wants once the current process is gone.
enum class AfterExit { kPolicy, kRestartNow, kStayStopped };

struct Worker {
  Worker(const WorkerSpec& s, const RestartPolicyConfig& policy_config)
      : spec(&s), name(s.name), kind(s.kind), policy(policy_config) {}

  const WorkerSpec* spec;
  std::string name;
  abi::WorkerKind kind;
  WorkerState state = WorkerState::kStopped;
  pid_t pid = -1;
  uint64_t incarnation = 0;  // bumps per spawn: async callbacks of an old process are ignored
  int spawns = 0;            // restarts = spawns - 1, whether by policy or by request
  std::unique_ptr<asio::posix::stream_descriptor> pidfd, channel, output;
  UniqueFd control_peer;  // vdisplay: the driver's end of its control socket, until handed over
  std::optional<SharedMemory> status_page;
  RestartPolicy policy;
  TimePoint started_at{}, restart_at{}, kill_at{};
  std::optional<ExitStatus> last_exit;
  std::string failure;  // why it is failed
  uint64_t last_heartbeat = 0;
  TimePoint heartbeat_seen{};
  bool hello = false, ready = false;
  AfterExit after_exit = AfterExit::kPolicy;
  std::string output_line;
  std::array<char, 4096> output_buffer{};
};

}  // namespace

class Supervisor::Impl {
 public:
  Impl(SupervisorOptions options, std::unique_ptr<SessionSource> sessions)
      : options_(std::move(options)),
        sessions_(std::move(sessions)),
        clock_(Clock::createSteady()),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        tick_(io_),
        session_settle_(io_),
        acceptor_(io_),
        leases_(io_),
        escalation_(options_.config.restart) {}

  int run() {
    // Before any socket opens: a funkhausd that cannot start its workers must not hold the
    // viewers' port open and never answer.
    if (auto missing = checkBinaries(); !missing) {
      spdlog::critical("{}", missing.error().message);
      return abi::kExitUnsupported;  // permanent: systemd does not retry it
    }
    if (auto listening = listen(); !listening) {
      spdlog::critical("control socket: {}", listening.error().message);
      return 1;
    }
    if (anyWorkerHas(Device::kNetEndpoints)) {
      auto endpoints = NetEndpoints::open(options_.config.net);
      if (!endpoints) {
        spdlog::critical("{}", endpoints.error().message);
        return 1;
      }
      net_.emplace(std::move(*endpoints));
      const std::string& bind = options_.config.net.bind;
      const bool any = bind == "0.0.0.0" || bind == "::";
      const std::string host = any                                   ? "127.0.0.1"
                               : bind.find(':') != std::string::npos ? "[" + bind + "]"
                                                                     : bind;
      spdlog::info(
          "viewers: open rtsp://{}:{}{} in ffplay, VLC, mpv or GStreamer{} (RTP/RTCP on UDP "
          "{}-{}), e.g.  ffplay -fflags nobuffer -flags low_delay rtsp://{}:{}{}",
          host, net_->rtspPort(), options_.config.net.path,
          any ? " (or this machine's address from elsewhere)" : "", net_->rtpPort(),
          net_->rtpPort() + 1, host, net_->rtspPort(), options_.config.net.path);
    }
    auto session = sessions_->current();
    if (!session) {
      spdlog::critical("session: {}", session.error().message);
      return 1;
    }
    if (*session) {
      startSession(**session);
    } else {
      spdlog::info("no active session yet: waiting for one");
      updateStatus();
    }
    watchSessions();
    waitSignals();
    scheduleTick();
    io_.run();
    std::error_code ec;
    std::filesystem::remove(options_.control_socket, ec);
    return exit_code_;
  }

 private:
  // ---- session and workers ----------------------------------------------------------------

  // Every worker of the config has its binary, executable, in the worker directory.
  Result<void> checkBinaries() const {
    for (const auto& name : options_.config.workers) {
      const WorkerSpec* w = findWorker(name);
      if (w == nullptr) return makeError("no worker \"{}\" in the worker table", name);
      const std::string path = options_.worker_dir + "/" + std::string(w->binary);
      if (access(path.c_str(), X_OK) != 0)
        return makeError(
            "worker binary {} (worker {}) is missing or not executable: {}; install it or set "
            "--worker-dir",
            path, name, std::strerror(errno));
    }
    return {};
  }

  bool anyWorkerHas(Device device) const {
    for (const auto& name : options_.config.workers)
      if (const WorkerSpec* w = findWorker(name); w != nullptr && hasDevice(*w, device))
        return true;
    return false;
  }

  void startSession(const SessionInfo& session) {
    session_ = session;
    if (options_.mode == RunMode::kSystem && session.uid != geteuid())
      credentials_ = Credentials{session.uid, session.gid, session.groups};
    else
      credentials_.reset();
    workers_.clear();
    for (const auto& name : options_.config.workers)
      if (const WorkerSpec* spec = findWorker(name))  // the config checked every name
        workers_.push_back(std::make_unique<Worker>(*spec, options_.config.restart));
    // Fresh rings for every session: no frame of the previous user reaches the next one.
    plan_.reset();
    auto plan = SessionPlan::create(options_.config, options_.config.workers);
    if (!plan) {
      for (auto& w : workers_) fail(*w, "session rings: " + plan.error().message);
      return;
    }
    plan_.emplace(std::move(*plan));
    spdlog::info("session {} ({}, {}) of user {} (uid {}): starting {} workers", session.id,
                 session.type, session.klass, session.user, session.uid, workers_.size());
    for (auto& w : workers_) spawn(*w);
  }

  Worker* find(const std::string& name) {
    for (auto& w : workers_)
      if (w->name == name) return w.get();
    return nullptr;
  }

  void spawn(Worker& w) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
      fail(w, fmt::format("socketpair: {}", std::strerror(errno)));
      return;
    }
    UniqueFd ours(sv[0]), theirs(sv[1]);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
      fail(w, fmt::format("pipe: {}", std::strerror(errno)));
      return;
    }
    UniqueFd out_read(pipefd[0]), out_write(pipefd[1]);
    if (!w.status_page) {
      auto page = SharedMemory::create("funkhaus-status-" + w.name, sizeof(abi::WorkerStatusPage));
      if (!page) {
        fail(w, page.error().message);
        return;
      }
      auto* s = reinterpret_cast<abi::WorkerStatusPage*>(page->data());
      s->magic = abi::kStatusPageMagic;
      s->abi_version = abi::kAbiVersion;
      s->header_size = sizeof(abi::WorkerStatusPage);
      s->kind = static_cast<uint32_t>(w.kind);
      w.status_page.emplace(std::move(*page));
    }
    if (hasDevice(*w.spec, Device::kDisplayControl)) {
      // The control plane: funkhausd keeps one end, the driver gets the other after hello.
      int control[2];
      if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) {
        fail(w, fmt::format("socketpair: {}", std::strerror(errno)));
        return;
      }
      leases_.attach(UniqueFd(control[0]));
      w.control_peer.reset(control[1]);
    }
    SpawnSpec spec;
    spec.path = options_.worker_dir + "/" + std::string(w.spec->binary);
    spec.args = w.spec->args(options_.config);
    spec.environment = session_.environment;
    spec.credentials = credentials_;
    spec.channel_fd = theirs.get();
    spec.output_fd = out_write.get();
    auto process = spawnWorker(spec);
    if (!process) {
      fail(w, process.error().message);
      return;
    }
    ++w.incarnation;
    ++w.spawns;
    w.pid = process->pid;
    w.state = WorkerState::kStarting;
    w.started_at = clock_->now();
    w.heartbeat_seen = w.started_at;
    w.last_heartbeat = abi::atomicLoad(status(w).heartbeat);
    w.hello = w.ready = false;
    w.after_exit = AfterExit::kPolicy;
    w.output_line.clear();
    w.policy.onStarted(w.started_at);
    w.pidfd = std::make_unique<asio::posix::stream_descriptor>(io_, process->pidfd.release());
    w.channel = std::make_unique<asio::posix::stream_descriptor>(io_, ours.release());
    w.output = std::make_unique<asio::posix::stream_descriptor>(io_, out_read.release());
    spdlog::info("{}: started pid {}", w.name, w.pid);
    watchExit(w, w.incarnation);
    watchChannel(w, w.incarnation);
    readOutput(w, w.incarnation);
  }

  abi::WorkerStatusPage& status(Worker& w) {
    return *reinterpret_cast<abi::WorkerStatusPage*>(w.status_page->data());
  }

  void fail(Worker& w, std::string why) {
    spdlog::error("{}: failed: {}", w.name, why);
    w.state = WorkerState::kFailed;
    w.failure = std::move(why);
    updateStatus();
  }

  void watchExit(Worker& w, uint64_t incarnation) {
    w.pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                        [this, &w, incarnation](const boost::system::error_code& ec) {
                          if (ec || w.incarnation != incarnation) return;
                          reap(w);
                        });
  }

  void reap(Worker& w) {
    siginfo_t info{};
    const int rc =
        waitid(P_PIDFD, static_cast<id_t>(w.pidfd->native_handle()), &info, WEXITED | WNOHANG);
    if (rc != 0 && errno != EAGAIN) {
      spdlog::error("{}: waitid: {}", w.name, std::strerror(errno));
      return;
    }
    if (rc != 0 || info.si_pid == 0) {
      // The pidfd can turn readable when the main thread is gone while other threads of the
      // worker still exit (and asio keeps it non-blocking): not reapable yet. Try again soon.
      auto retry = std::make_shared<asio::steady_timer>(io_, 5ms);
      const uint64_t incarnation = w.incarnation;
      retry->async_wait([this, &w, incarnation, retry](const boost::system::error_code& ec) {
        if (!ec && w.incarnation == incarnation && w.pidfd) reap(w);
      });
      return;
    }
    ExitStatus exit{info.si_code != CLD_EXITED, info.si_status};
    w.last_exit = exit;
    releaseRings(w, static_cast<uint32_t>(info.si_pid));
    if (hasDevice(*w.spec, Device::kDisplayControl)) {
      leases_.detach();  // its monitors are gone with it; the next driver gets a new lease
      w.control_peer.reset();
    }
    w.pid = -1;
    w.pidfd.reset();
    w.channel.reset();
    w.output.reset();  // any partial last line is dropped with the pipe
    ++w.incarnation;
    const TimePoint now = clock_->now();
    switch (w.after_exit) {
      case AfterExit::kStayStopped:
        spdlog::info("{}: stopped ({})", w.name, describeExit(exit));
        if (w.state != WorkerState::kFailed) w.state = WorkerState::kStopped;
        break;
      case AfterExit::kRestartNow:
        spdlog::info("{}: restarting on request ({})", w.name, describeExit(exit));
        spawn(w);
        break;
      case AfterExit::kPolicy: {
        if (stopping_all_) break;
        auto decision = w.policy.onUnexpectedExit(exit, now);
        switch (decision.action) {
          case RestartPolicy::Action::kRestart:
            spdlog::warn("{}: {}", w.name, decision.reason);
            w.state = WorkerState::kBackoff;
            w.restart_at = now + decision.delay;
            break;
          case RestartPolicy::Action::kLeaveFailed:
            fail(w, decision.reason);
            break;
          case RestartPolicy::Action::kRestartSession:
            spdlog::error("{}: {}", w.name, decision.reason);
            restartSession(now);
            break;
        }
        break;
      }
    }
    if (stopping_all_ && allGone()) io_.stop();
    updateStatus();
  }

  // The owner cleans up: the reaped worker's roles and slots in its rings go back at once, so
  // its successor attaches whatever became of its pid number (nothing is guessed from it).
  void releaseRings(const Worker& w, uint32_t pid) {
    if (!plan_) return;
    for (const RingEdge& e : activeEdges(*w.spec, options_.config)) {
      const PlannedRing* ring = plan_->ring(e.ring);
      if (ring == nullptr) continue;
      if (ring->kind == RingKind::kPacket) {
        if (auto ok = releasePacketRingPeer(ring->memory, pid); !ok)
          spdlog::warn("{}: {} ring: {}", w.name, ring->name, ok.error().message);
        continue;
      }
      auto released = releaseFrameRingPeer(ring->memory, pid);
      if (!released)
        spdlog::warn("{}: {} ring: {}", w.name, ring->name, released.error().message);
      else if (*released > 0)
        spdlog::info("{}: {} slot(s) of the {} ring it held released", w.name, *released,
                     ring->name);
    }
  }

  void restartSession(TimePoint now) {
    if (!escalation_.allowSessionRestart(now)) {
      spdlog::critical(
          "too many session restarts within {} s: giving up so systemd can take over",
          std::chrono::duration_cast<std::chrono::seconds>(options_.config.restart.window).count());
      exit_code_ = 1;
      stopAll();
      return;
    }
    for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) {
      Worker& w = **it;
      w.policy.reset();
      if (w.pid > 0) {
        w.after_exit = AfterExit::kRestartNow;
        terminate(w, now);
      } else if (w.state != WorkerState::kStopped) {
        w.state = WorkerState::kBackoff;
        w.restart_at = now + options_.config.restart.initial_backoff;
      }
    }
  }

  // SIGTERM now, SIGKILL after the grace period (in tick()).
  void terminate(Worker& w, TimePoint now) {
    if (w.pid <= 0) return;
    // The stop command only once the worker has its fds: before that it expects ring fds.
    if (w.channel && w.ready)
      (void)sendMessage(w.channel->native_handle(),
                        CommandMessage{{static_cast<uint32_t>(abi::Command::kStop), 0, 0}});
    kill(w.pid, SIGTERM);
    w.state = WorkerState::kStopping;
    w.kill_at = now + options_.config.stop_grace;
  }

  void killNow(Worker& w, const char* why) {
    if (w.pid <= 0) return;
    spdlog::warn("{}: {}: killing pid {}", w.name, why, w.pid);
    kill(w.pid, SIGKILL);
  }

  bool allGone() const {
    for (const auto& w : workers_)
      if (w->pid > 0) return false;
    return true;
  }

  void stopAll() {
    stopping_all_ = true;
    leases_.release();
    const TimePoint now = clock_->now();
    for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) {
      (*it)->after_exit = AfterExit::kStayStopped;
      terminate(**it, now);
    }
    if (allGone()) io_.stop();
  }

  // ---- channel and output -----------------------------------------------------------------

  void watchChannel(Worker& w, uint64_t incarnation) {
    w.channel->async_wait(asio::posix::stream_descriptor::wait_read,
                          [this, &w, incarnation](const boost::system::error_code& ec) {
                            if (ec || w.incarnation != incarnation || !w.channel) return;
                            if (readChannel(w)) watchChannel(w, incarnation);
                          });
  }

  // Returns false when the channel is done (closed or the worker was killed).
  bool readChannel(Worker& w) {
    for (;;) {
      auto received = receiveMessage(w.channel->native_handle());
      if (!received) {
        killNow(w, fmt::format("malformed channel message ({})", received.error().message).c_str());
        return false;
      }
      if (!*received) return true;  // EAGAIN (EOF shows as the exit)
      Message& m = **received;
      if (auto* hello = std::get_if<HelloMessage>(&m)) {
        if (w.hello) return killNow(w, "second hello"), false;
        if (hello->body.abi_version != abi::kAbiVersion) {
          w.after_exit = AfterExit::kStayStopped;
          killNow(w, "ABI version mismatch");
          fail(w, fmt::format("speaks ABI version {}, funkhausd {}", hello->body.abi_version,
                              abi::kAbiVersion));
          return false;
        }
        if (hello->body.kind != static_cast<uint32_t>(w.kind))
          return killNow(w, "hello names another worker kind"), false;
        w.hello = true;
        if (auto sent = handOver(w); !sent) return killNow(w, sent.error().message.c_str()), false;
      } else if (std::holds_alternative<ReadyMessage>(m)) {
        if (!w.hello || w.ready) return killNow(w, "ready out of order"), false;
        w.ready = true;
        if (w.state == WorkerState::kStopping) continue;  // too late: it is being stopped
        w.state = WorkerState::kRunning;
        spdlog::info("{}: ready", w.name);
        if (hasDevice(*w.spec, Device::kDisplayControl)) leaseMonitor(w);
        updateStatus();
      } else if (auto* event = std::get_if<EventMessage>(&m)) {
        if (!w.ready) return killNow(w, "event before ready"), false;
        onEvent(w, event->body);
      } else if (auto* deposit = std::get_if<ConnectionDepositMessage>(&m)) {
        if (!w.spec->deposits_connections || !net_ || !w.hello)
          return killNow(w, "deposited a socket it may not deposit"), false;
        if (auto kept = net_->deposit(deposit->slot, std::move(deposit->fd)); !kept)
          return killNow(w, kept.error().message.c_str()), false;
      } else if (auto* release = std::get_if<ConnectionReleaseMessage>(&m)) {
        if (!w.spec->deposits_connections || !net_ || !w.hello)
          return killNow(w, "released a socket it may not deposit"), false;
        net_->release(release->slot);
      } else {
        return killNow(w, "sent a supervisor-only message"), false;
      }
    }
  }

  // After hello: the status page, the session's rings and (net) the kept sockets, at most
  // kMaxMessageFds per message, the last one flagged.
  Result<void> handOver(Worker& w) {
    std::vector<HandedFd> fds = {{abi::FdRole::kStatusPage, 0, w.status_page->fd()}};
    if (plan_)
      for (const auto& f : plan_->ringFds(*w.spec)) fds.push_back(f);
    if (hasDevice(*w.spec, Device::kNetEndpoints) && net_)
      for (const auto& f : net_->handedFds(w.kind)) fds.push_back(f);
    if (hasDevice(*w.spec, Device::kDisplayControl) && w.control_peer.valid())
      fds.push_back({abi::FdRole::kDevice, static_cast<uint32_t>(abi::DeviceId::kDisplayControl),
                     w.control_peer.get()});
    for (size_t first = 0; first < fds.size(); first += abi::kMaxMessageFds) {
      RingFdsMessage m;
      const size_t end = std::min(fds.size(), first + abi::kMaxMessageFds);
      for (size_t i = first; i < end; ++i) {
        UniqueFd copy(fcntl(fds[i].fd, F_DUPFD_CLOEXEC, 0));
        if (!copy.valid()) return makeError("dup for hand-over: {}", std::strerror(errno));
        m.roles.push_back(fds[i].role);
        m.tags.push_back(fds[i].tag);
        m.fds.push_back(std::move(copy));
      }
      m.last = end == fds.size();
      if (auto sent = sendMessage(w.channel->native_handle(), Message(std::move(m))); !sent)
        return sent;
    }
    w.control_peer.reset();  // the driver has its copy
    return {};
  }

  // ---- the session's virtual monitor --------------------------------------------------------

  // The ring the driver `w` fills goes with the lease.
  void leaseMonitor(const Worker& w) {
    const PlannedRing* ring = plan_ ? plan_->leasedRing(*w.spec) : nullptr;
    if (ring == nullptr || !leases_.attached()) return;
    const VdisplayConfig& v = options_.config.vdisplay;
    MonitorSpec spec;
    spec.mode = {v.width, v.height, v.refresh_hz * 1000};
    spec.fb_width = std::max(v.fb_width, v.width);
    spec.fb_height = std::max(v.fb_height, v.height);
    spec.hdr = v.hdr;
    const std::string session = session_.id;
    leases_.lease(spec, ring->memory.fd(), [this, session](Result<LeasedMonitor> m) {
      if (!m) {
        spdlog::warn("virtual monitor for session {}: {}", session, m.error().message);
        return;
      }
      spdlog::info("session {}: virtual monitor {} is X display {} ({}x{} at {} Hz{}{})", session,
                   m->id, m->display, m->mode.width, m->mode.height, m->mode.refresh_millihz / 1000,
                   m->xauthority.empty() ? "" : ", XAUTHORITY=", m->xauthority);
      updateStatus();
    });
  }

  void onEvent(Worker& w, const abi::EventBody& event) {
    const auto type = static_cast<abi::Event>(event.event);
    const EventRoute* route = routeOf(*w.spec, type);
    if (route == nullptr) {
      spdlog::debug("{}: ignored event {} it may not send", w.name, event.event);
      return;
    }
    switch (route->action) {
      case EventAction::kCommandRingConsumer: {
        const TimePoint now = clock_->now();
        TimePoint& last = last_forward_[{w.spec, event.event}];
        if (now - last < route->min_interval) break;
        const WorkerSpec* target =
            consumerOf(route->ring, options_.config.workers, &options_.config);
        Worker* to = target != nullptr ? find(std::string(target->name)) : nullptr;
        if (to == nullptr || to->pid <= 0 || !to->ready || !to->channel ||
            !acceptsCommand(*to->spec, route->command))
          break;
        last = now;
        (void)sendMessage(to->channel->native_handle(),
                          CommandMessage{{static_cast<uint32_t>(route->command), 0, 0}});
        break;
      }
      case EventAction::kLog:
        logEvent(w, event);
        break;
      case EventAction::kDisplayMode:
        viewerMode(event);
        break;
    }
  }

  void logEvent(const Worker& w, const abi::EventBody& event) {
    switch (static_cast<abi::Event>(event.event)) {
      case abi::Event::kModeChanged:
        spdlog::info("{}: mode changed to {}x{}", w.name, event.arg >> 32, event.arg & 0xffffffffu);
        break;
      case abi::Event::kError:
        spdlog::warn("{}: reported error {}", w.name, event.arg);
        break;
      case abi::Event::kKeyframeRequest:
      case abi::Event::kModeRequest:
        spdlog::info("{}: event {} (arg {})", w.name, event.event, event.arg);
        break;
    }
  }

  // A viewer's mode request: untrusted numbers; the driver validates the mode, we only unpack.
  void viewerMode(const abi::EventBody& event) {
    const vdisplay::Mode mode{static_cast<uint32_t>(event.arg >> 32),
                              static_cast<uint32_t>((event.arg >> 16) & 0xffff),
                              static_cast<uint32_t>(event.arg & 0xffff) * 1000};
    if (!leases_.current()) {
      spdlog::info("a viewer asked for {}x{}, but the session has no virtual monitor", mode.width,
                   mode.height);
      return;
    }
    const auto& current = leases_.current()->mode;
    if (mode.width == current.width && mode.height == current.height &&
        (mode.refresh_millihz == 0 || mode.refresh_millihz == current.refresh_millihz))
      return;
    vdisplay::Mode wanted = mode;
    if (wanted.refresh_millihz == 0) wanted.refresh_millihz = current.refresh_millihz;
    spdlog::info("a viewer asked for {}x{} at {} Hz: changing the virtual monitor", wanted.width,
                 wanted.height, wanted.refresh_millihz / 1000);
    leases_.setMode(wanted, [this](Result<LeasedMonitor> m) {
      if (!m)
        spdlog::warn("viewer's mode: {}", m.error().message);
      else
        updateStatus();
    });
  }

  void readOutput(Worker& w, uint64_t incarnation) {
    w.output->async_read_some(
        asio::buffer(w.output_buffer),
        [this, &w, incarnation](const boost::system::error_code& ec, size_t n) {
          if (ec || w.incarnation != incarnation || !w.output) return;
          for (size_t i = 0; i < n; ++i) {
            const char c = w.output_buffer[i];
            if (c == '\n' || w.output_line.size() >= 1024) {
              spdlog::info("[{}] {}", w.name, w.output_line);
              w.output_line.clear();
              if (c == '\n') continue;
            }
            w.output_line.push_back(c);
          }
          readOutput(w, incarnation);
        });
  }

  // ---- timers and signals -----------------------------------------------------------------

  void scheduleTick() {
    tick_.expires_after(kTick);
    tick_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      tick();
      scheduleTick();
    });
  }

  void tick() {
    const TimePoint now = clock_->now();
    for (auto& wp : workers_) {
      Worker& w = *wp;
      if (w.state == WorkerState::kBackoff && now >= w.restart_at && !stopping_all_) spawn(w);
      if (w.pid <= 0) continue;
      if (w.state == WorkerState::kStopping) {
        if (now >= w.kill_at) killNow(w, "did not stop within the grace period");
        continue;
      }
      if (!w.hello && now - w.started_at > kHelloTimeout) {
        killNow(w, "no hello");
        continue;
      }
      const uint64_t beat = abi::atomicLoad(status(w).heartbeat);
      if (beat != w.last_heartbeat) {
        w.last_heartbeat = beat;
        w.heartbeat_seen = now;
      } else if (w.ready && now - w.heartbeat_seen > options_.config.heartbeat_timeout) {
        killNow(w, "heartbeat stopped");
        w.heartbeat_seen = now;  // one kill per timeout, not per tick
      }
    }
    if (watchdog_enabled_) sd_notify(0, "WATCHDOG=1");
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
      sd_notify(0, "STOPPING=1");
      stopAll();
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
    // Sockets and session watch stay; the rest of the config applies from the next spawn.
    config->net = options_.config.net;
    resolveDefaults(*config, options_.worker_dir);
    options_.config = std::move(*config);
    sessions_ = std::move(*sessions);
    watchSessions();
    checkSession("SIGHUP");
  }

  // ---- sessions ---------------------------------------------------------------------------

  void watchSessions() {
    session_watch_.reset();
    const int fd = sessions_->wakeFd();
    if (fd < 0) return;
    session_watch_ = std::make_unique<asio::posix::stream_descriptor>(io_, dup(fd));
    armSessionWatch();
  }

  void armSessionWatch() {
    session_watch_->async_wait(
        asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
          if (ec || !session_watch_) return;
          sessions_->acknowledgeWake();
          // logind fills in a new session's fields over a few
          // milliseconds: settle before moving the workers once.
          session_settle_.expires_after(kSessionSettle);
          session_settle_.async_wait([this](const boost::system::error_code& settle_ec) {
            if (!settle_ec) checkSession("session change");
          });
          if (session_watch_) armSessionWatch();
        });
  }

  // Re-reads the session source; moves the workers if the session is another one now.
  void checkSession(const char* why) {
    if (stopping_all_) return;
    auto next = sessions_->current();
    if (!next) {
      spdlog::error("{}: {} (keeping the current session)", why, next.error().message);
      return;
    }
    const std::optional<SessionInfo> current =
        switching_ ? pending_session_
                   : (session_.id.empty() ? std::nullopt : std::optional<SessionInfo>(session_));
    if (*next == current) return;
    if (*next)
      spdlog::info("{}: now session {} of user {} ({}): moving the workers", why, (*next)->id,
                   (*next)->user, (*next)->klass);
    else
      spdlog::info("{}: no active session: stopping the workers", why);
    switchSession(*next);
  }

  // Stops the old set in reverse start order, then starts the new one (if any).
  void switchSession(const std::optional<SessionInfo>& next) {
    const TimePoint now = clock_->now();
    leases_.release();  // the old session's monitor goes before its workers
    pending_session_ = next;
    if (switching_) return;  // the running switch picks up the newest target
    switching_ = true;
    for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) {
      (*it)->after_exit = AfterExit::kStayStopped;
      if ((*it)->state == WorkerState::kBackoff) (*it)->state = WorkerState::kStopped;
      terminate(**it, now);
    }
    awaitSwitch();
  }

  void awaitSwitch() {
    if (!allGone()) {
      auto timer = std::make_shared<asio::steady_timer>(io_, 10ms);
      timer->async_wait([this, timer](const boost::system::error_code&) { awaitSwitch(); });
      return;
    }
    switching_ = false;
    if (stopping_all_) return;
    auto next = std::move(pending_session_);
    pending_session_.reset();
    if (next) {
      startSession(*next);
    } else {
      workers_.clear();
      plan_.reset();
      session_ = SessionInfo{};
      updateStatus();
    }
  }

  // ---- systemd ----------------------------------------------------------------------------

  void updateStatus() {
    if (session_.id.empty() && !switching_) {
      // Nothing to wait for: funkhausd is up and watching for a session.
      if (!notified_ready_) {
        notified_ready_ = true;
        sd_notify(0, "READY=1");
      }
      const std::string status = "waiting for a session";
      if (status != last_status_) {
        last_status_ = status;
        sd_notifyf(0, "STATUS=%s", status.c_str());
      }
      return;
    }
    std::string degraded;
    bool all_ready = !workers_.empty();
    for (const auto& w : workers_) {
      if (w->state != WorkerState::kRunning) {
        all_ready = false;
        degraded += (degraded.empty() ? "" : ", ") + w->name + " " + toString(w->state);
      }
    }
    if (all_ready && !notified_ready_) {
      notified_ready_ = true;
      sd_notify(0, "READY=1");
      spdlog::info("every worker is ready");
    }
    const std::string status = degraded.empty() ? fmt::format("{} workers running", workers_.size())
                                                : fmt::format("degraded: {}", degraded);
    if (status != last_status_) {
      last_status_ = status;
      sd_notifyf(0, "STATUS=%s", status.c_str());
    }
  }

  // ---- control socket ---------------------------------------------------------------------

  Result<void> listen() {
    const std::filesystem::path path = options_.control_socket;
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return makeError("creating {}: {}", path.parent_path().string(), ec.message());
    chmod(path.parent_path().c_str(), options_.mode == RunMode::kSystem ? 0755 : 0700);
    std::filesystem::remove(path, ec);
    boost::system::error_code bec;
    acceptor_.open(stream_protocol(), bec);
    if (!bec) acceptor_.bind(stream_protocol::endpoint(path.string()), bec);
    if (!bec) acceptor_.listen(16, bec);
    if (bec) return makeError("{}: {}", path.string(), bec.message());
    // Anyone may connect and read the status; SO_PEERCRED decides who may change things.
    chmod(path.c_str(), options_.mode == RunMode::kSystem ? 0666 : 0600);
    spdlog::info("control socket {}", path.string());
    accept();
    return {};
  }

  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, stream_protocol::socket s) {
      if (ec) return;
      serve(std::make_shared<stream_protocol::socket>(std::move(s)));
      accept();
    });
  }

  struct Connection {
    explicit Connection(asio::io_context& io) : timer(io), buffer(kMaxControlRequest + 1) {}
    asio::steady_timer timer;
    asio::streambuf buffer;
  };

  void serve(std::shared_ptr<stream_protocol::socket> socket) {
    auto conn = std::make_shared<Connection>(io_);
    conn->timer.expires_after(2s);  // a client that sends nothing (slowloris) is dropped
    conn->timer.async_wait([socket](const boost::system::error_code& ec) {
      if (!ec) socket->close();
    });
    asio::async_read_until(
        *socket, conn->buffer, '\n',
        [this, socket, conn](const boost::system::error_code& ec, size_t n) {
          conn->timer.cancel();
          auto respond = [socket](const std::string& reply) {
            auto out = std::make_shared<std::string>(reply + "\n");
            asio::async_write(*socket, asio::buffer(*out),
                              [socket, out](const boost::system::error_code&, size_t) {
                                boost::system::error_code ignored;
                                socket->shutdown(stream_protocol::socket::shutdown_both, ignored);
                              });
          };
          if (ec) {
            if (ec == asio::error::not_found)
              respond(errorReply(fmt::format("request longer than {} bytes", kMaxControlRequest)));
            return;
          }
          std::string line(asio::buffers_begin(conn->buffer.data()),
                           asio::buffers_begin(conn->buffer.data()) + static_cast<long>(n) - 1);
          if (auto reply = handle(*socket, line, respond)) respond(*reply);
        });
  }

  static std::string dumpJson(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  static std::string errorReply(const std::string& message) {
    return dumpJson({{"ok", false}, {"error", message}});
  }

  bool authorized(const ucred& peer) const {
    if (peer.uid == 0 || peer.uid == geteuid()) return true;
    const group* g = getgrnam(options_.config.control_group.c_str());
    if (g == nullptr) return false;
    const passwd* pw = getpwuid(peer.uid);
    if (pw == nullptr) return false;
    int count = 64;
    std::vector<gid_t> groups(64);
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &count) < 0) {
      groups.resize(static_cast<size_t>(count));
      getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &count);
    }
    groups.resize(static_cast<size_t>(std::max(count, 0)));
    return std::find(groups.begin(), groups.end(), g->gr_gid) != groups.end();
  }

  // The reply, or nullopt when it comes later through `respond` (a mode change waits for the
  // driver).
  std::optional<std::string> handle(stream_protocol::socket& socket, const std::string& line,
                                    const std::function<void(const std::string&)>& respond) {
    auto request = parseControlRequest(line);
    if (!request) return errorReply(request.error().message);
    if (request->kind == ControlRequest::Kind::kStatus) return dumpJson(statusJson());
    ucred peer{};
    socklen_t len = sizeof peer;
    if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 ||
        !authorized(peer))
      return errorReply(fmt::format(
          "permission denied: only root, uid {} and members of group '{}' may change workers",
          geteuid(), options_.config.control_group));
    if (request->kind == ControlRequest::Kind::kMode) {
      if (!leases_.current())
        return errorReply("this session has no virtual monitor (is vdisplay running?)");
      const uint32_t refresh = request->refresh_hz != 0
                                   ? request->refresh_hz
                                   : leases_.current()->mode.refresh_millihz / 1000;
      spdlog::info("virtual monitor: mode {}x{} at {} Hz requested by uid {}", request->width,
                   request->height, refresh, peer.uid);
      leases_.setMode({request->width, request->height, refresh * 1000},
                      [this, respond](Result<LeasedMonitor> m) {
                        if (!m) return respond(errorReply(m.error().message));
                        updateStatus();
                        respond(dumpJson({{"ok", true},
                                          {"width", m->mode.width},
                                          {"height", m->mode.height},
                                          {"display", m->display}}));
                      });
      return std::nullopt;
    }
    Worker* w = find(request->worker);
    if (w == nullptr)
      return errorReply(fmt::format("no worker '{}' in this session", request->worker));
    const TimePoint now = clock_->now();
    switch (request->kind) {
      case ControlRequest::Kind::kRestart:
        spdlog::info("{}: restart requested by uid {}", w->name, peer.uid);
        if (w->pid > 0) {
          w->after_exit = AfterExit::kRestartNow;
          terminate(*w, now);
        } else {
          w->policy.reset();
          spawn(*w);
        }
        break;
      case ControlRequest::Kind::kStop:
        spdlog::info("{}: stop requested by uid {}", w->name, peer.uid);
        if (w->pid > 0) {
          w->after_exit = AfterExit::kStayStopped;
          terminate(*w, now);
        } else {
          w->state = WorkerState::kStopped;
        }
        break;
      case ControlRequest::Kind::kStart:
        if (w->pid > 0) return errorReply(fmt::format("{} is already running", w->name));
        spdlog::info("{}: start requested by uid {}", w->name, peer.uid);
        w->policy.reset();
        spawn(*w);
        break;
      case ControlRequest::Kind::kStatus:
      case ControlRequest::Kind::kMode:
        break;
    }
    updateStatus();
    return dumpJson({{"ok", true}});
  }

  nlohmann::json statusJson() {
    const TimePoint now = clock_->now();
    nlohmann::json workers = nlohmann::json::array();
    for (auto& wp : workers_) {
      Worker& w = *wp;
      nlohmann::json j;
      j["name"] = w.name;
      j["pid"] = w.pid > 0 ? nlohmann::json(w.pid) : nlohmann::json(nullptr);
      j["state"] = toString(w.state);
      j["restarts"] = std::max(w.spawns - 1, 0);
      j["uptime_s"] = w.pid > 0 ? std::chrono::duration<double>(now - w.started_at).count() : 0.0;
      j["last_exit"] =
          w.last_exit ? nlohmann::json(describeExit(*w.last_exit)) : nlohmann::json(nullptr);
      if (!w.failure.empty()) j["failure"] = w.failure;
      j["heartbeat_age_ms"] =
          w.pid > 0 ? std::chrono::duration<double, std::milli>(now - w.heartbeat_seen).count()
                    : 0.0;
      if (w.status_page) {
        // Written by the worker: numbers only, shown as they are (they cannot steer us).
        const abi::WorkerStatusPage& s = status(w);
        j["fps"] = static_cast<double>(abi::atomicLoad(s.fps_milli)) / 1000.0;
        j["latency_p50_ms"] = static_cast<double>(abi::atomicLoad(s.latency_p50_ns)) / 1e6;
        j["latency_p99_ms"] = static_cast<double>(abi::atomicLoad(s.latency_p99_ns)) / 1e6;
        j["counters"] = {{"frames_in", abi::atomicLoad(s.frames_in)},
                         {"frames_out", abi::atomicLoad(s.frames_out)},
                         {"drops", abi::atomicLoad(s.drops)},
                         {"errors", abi::atomicLoad(s.errors)},
                         {"bytes_out", abi::atomicLoad(s.bytes_out)},
                         {"keyframes", abi::atomicLoad(s.keyframes)}};
        if (w.spec->reports_viewers) j["viewers"] = abi::atomicLoad(s.viewers);
      }
      workers.push_back(j);
    }
    nlohmann::json session = {{"id", session_.id},       {"user", session_.user},
                              {"uid", session_.uid},     {"type", session_.type},
                              {"class", session_.klass}, {"workers", workers}};
    if (plan_) session["rings"] = ringsJson();
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
    nlohmann::json out = {{"ok", true},
                          {"mode", toString(options_.mode)},
                          {"pid", getpid()},
                          {"sessions", session_.id.empty() ? nlohmann::json::array()
                                                           : nlohmann::json::array({session})}};
    if (net_)
      out["net"] = {{"rtsp_port", net_->rtspPort()},
                    {"rtp_port", net_->rtpPort()},
                    {"path", options_.config.net.path},
                    {"kept_viewer_sockets", net_->keptViewers()}};
    return out;
  }

  // Ring counters as the peers wrote them (untrusted numbers, displayed only), by ring name.
  nlohmann::json ringsJson() const {
    nlohmann::json out = nlohmann::json::object();
    for (const PlannedRing& r : plan_->rings()) {
      if (r.kind == RingKind::kFrame) {
        const auto& f = *reinterpret_cast<const abi::FrameRingHeader*>(r.memory.data());
        out[std::string(r.name)] = {{"slots", f.slot_count},
                                    {"published", abi::atomicLoad(f.published)},
                                    {"consumed", abi::atomicLoad(f.consumed)},
                                    {"dropped", abi::atomicLoad(f.dropped)},
                                    {"repeated", abi::atomicLoad(f.repeated)},
                                    {"overwritten", abi::atomicLoad(f.overwritten)},
                                    {"stale_rejected", abi::atomicLoad(f.stale_rejected)},
                                    {"abandoned", abi::atomicLoad(f.abandoned)},
                                    {"generation", abi::atomicLoad(f.generation)}};
        continue;
      }
      const auto& p = *reinterpret_cast<const abi::PacketRingHeader*>(r.memory.data());
      const uint64_t head = abi::atomicLoad(p.head), tail = abi::atomicLoad(p.tail);
      const uint64_t capacity = p.capacity;  // written by funkhausd, never by a peer
      const uint64_t used = head >= tail ? std::min(head - tail, capacity) : 0;
      out[std::string(r.name)] = {
          {"capacity_bytes", capacity},
          {"used_bytes", used},
          {"occupancy", capacity != 0 ? static_cast<double>(used) / capacity : 0.0},
          {"records", abi::atomicLoad(p.records)},
          {"dropped_records", abi::atomicLoad(p.dropped_records)}};
    }
    return out;
  }

  SupervisorOptions options_;
  std::unique_ptr<SessionSource> sessions_;
  std::unique_ptr<Clock> clock_;
  asio::io_context io_;
  asio::signal_set signals_;
  asio::steady_timer tick_;
  asio::steady_timer session_settle_;
  stream_protocol::acceptor acceptor_;
  DisplayLeases leases_;
  SessionEscalation escalation_;
  SessionInfo session_;
  std::optional<SessionInfo> pending_session_;
  bool switching_ = false;
  std::unique_ptr<asio::posix::stream_descriptor> session_watch_;
  std::optional<SessionPlan> plan_;
  std::optional<NetEndpoints> net_;
  std::map<std::pair<const WorkerSpec*, uint32_t>, TimePoint> last_forward_;
  std::optional<Credentials> credentials_;
  std::vector<std::unique_ptr<Worker>> workers_;
  bool stopping_all_ = false;
  bool notified_ready_ = false;
  bool watchdog_enabled_ = sd_watchdog_enabled(0, nullptr) > 0;
  std::string last_status_;
  int exit_code_ = 0;
};

Supervisor::Supervisor(SupervisorOptions options, std::unique_ptr<SessionSource> sessions)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(sessions))) {}

Supervisor::~Supervisor() = default;

int Supervisor::run() { return impl_->run(); }

}  // namespace funkhaus::supervisor
