// funkhaus-vdisplay on the worker runtime: each step polls the host sockets and the monitors;
// requests are parsed here and handled by Driver. The runtime owns the channel, signals,
// heartbeat, commands and the status page.
#include "funkhaus/vdisplay/driver_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/common/worker_runtime.h"
#include "funkhaus/platform/handle_passing.h"
#include "funkhaus/vdisplay/driver.h"
#include "funkhaus/vdisplay/xauth.h"
#include "funkhaus/vdisplay/xvfb_backend.h"

namespace funkhaus::vdisplay {
namespace {

constexpr int kMaxRequestsPerTurn = 16;

bool isSeqpacketSocket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return fcntl(fd, F_GETFD) >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
         type == SOCK_SEQPACKET;
}

Result<UniqueFd> listenOn(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // A socket file nobody answers on is stale; one that answers belongs to a running driver.
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return makeError("--listen {}: exists and is not a socket", path);
    UniqueFd probe(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      return makeError("--listen {}: another driver is listening there", path);
    unlink(path.c_str());
  }
  UniqueFd s(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) return makeError("socket: {}", std::strerror(errno));
  const mode_t old_mask = umask(0077);  // only our user (and root) may connect
  const int bound = bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old_mask);
  if (bound != 0) return makeError("--listen {}: bind: {}", path, std::strerror(errno));
  if (listen(s.get(), 16) != 0)
    return makeError("--listen {}: listen: {}", path, std::strerror(errno));
  return s;
}

class VdisplayStage final : public WorkerStage {
 public:
  explicit VdisplayStage(const VdisplayOptions& options) : options_(options) {}
  ~VdisplayStage() override { shutdown(); }

  Result<void> start(WorkerContext& context) override {
    context_ = &context;
    if (!options_.listen_path.empty()) {
      auto s = listenOn(options_.listen_path);
      if (!s) return makeError(ErrorCode::kBadConfig, "{}", s.error().message);
      listen_ = std::move(*s);
    }

    std::string runtime = options_.runtime_dir;
    if (runtime.empty()) {
      const char* xdg = getenv("XDG_RUNTIME_DIR");
      runtime = xdg != nullptr && *xdg != '\0' ? xdg : "/tmp";
    }
    auto private_dir = PrivateDir::create(runtime, "funkhaus-vdisplay-");
    if (!private_dir) return makeError(ErrorCode::kBadConfig, "{}", private_dir.error().message);
    if (private_dir->path().size() + 32 >= abi::kVdisplayPathSize)
      return makeError(ErrorCode::kBadConfig,
                       "runtime directory {} is too long for the Xauthority paths",
                       private_dir->path());
    private_dir_.emplace(std::move(*private_dir));

    DriverOptions driver_options;
    driver_options.max_monitors = options_.max_monitors;
    driver_options.watchdog = std::chrono::milliseconds(options_.watchdog_ms);
    driver_options.serial_seed =
        options_.serial_seed.value_or(static_cast<uint32_t>(getpid() ^ (monotonicNs() >> 10))) &
        0xFFFFFF;
    XvfbBackendOptions backend;
    backend.xvfb_binary = options_.xvfb_binary;
    backend.auth_dir = private_dir_->path();
    // The grab stage: damage seen (the capture time) -> slot published; repeats pass 0.
    backend.on_frame = [this](uint64_t capture_ns, uint64_t publish_ns) {
      stats_.onFrame(capture_ns, publish_ns, capture_ns);
    };
    backend.keepalive = [this] { context_->heartbeat(); };  // e.g. while an X server starts
    clock_ = Clock::createSteady();
    driver_ = std::make_unique<Driver>(driver_options, createXvfbBackend(backend), *clock_);

    if (context.supervised()) {
      if (UniqueFd control = context.take(abi::FdRole::kDevice,
                                          static_cast<uint32_t>(abi::DeviceId::kDisplayControl));
          control.valid()) {
        if (!isSeqpacketSocket(control.get()))
          return makeError(ErrorCode::kBadConfig,
                           "the kControl fd from funkhausd is not a SOCK_SEQPACKET socket");
        fcntl(control.get(), F_SETFL, fcntl(control.get(), F_GETFL) | O_NONBLOCK);
        addHost(std::move(control), true);
      } else if (!listen_.valid()) {
        spdlog::warn("funkhausd sent no control socket (kControl): no host can reach us");
      }
    }
    spdlog::info("funkhaus-vdisplay {}.{}.{} ready: {}{}max {} monitors, watchdog {} ms",
                 kDriverVersion >> 16, (kDriverVersion >> 8) & 0xFF, kDriverVersion & 0xFF,
                 context.supervised() ? "supervised, " : "",
                 listen_.valid() ? "listening on " + options_.listen_path + ", " : "",
                 driver_options.max_monitors, options_.watchdog_ms);
    return {};
  }

  void publish(abi::WorkerStatusPage& page, uint64_t now_ns) override {
    const MonitorCounters totals = driver_ ? driver_->totals() : MonitorCounters{};
    abi::storeRelaxed(page.frames_out, totals.frames_out);
    abi::storeRelaxed(page.drops, totals.drops);
    abi::storeRelaxed(page.errors, totals.errors + context_->channelErrors());
    stats_.publish(page, now_ns);
  }

  void stop() override { shutdown(); }

  struct Host {
    uint64_t id = 0;
    UniqueFd fd;
    bool control = false;  // funkhausd's kControl socket
  };

  void addHost(UniqueFd fd, bool control) {
    Host h;
    h.id = driver_->addHost();
    h.fd = std::move(fd);
    h.control = control;
    spdlog::info("host {} connected{}", h.id, control ? " (funkhausd control socket)" : "");
    hosts_.push_back(std::move(h));
  }

  void acceptHosts() {
    for (;;) {
      UniqueFd c(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!c.valid()) return;  // EAGAIN or a transient error; poll tells us when to retry
      ucred cred{};
      socklen_t len = sizeof cred;
      if (getsockopt(c.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
          (cred.uid != geteuid() && cred.uid != 0)) {
        spdlog::warn("refused a host connection from uid {}", cred.uid);
        continue;
      }
      if (hosts_.size() >= kMaxHosts) {
        spdlog::warn("refused a host connection: {} hosts connected already", kMaxHosts);
        continue;
      }
      addHost(std::move(c), false);
    }
  }

  // Sends one reply; false if the host cannot take it (gone, or not reading its replies).
  bool sendReply(const Host& h, const Reply& reply) {
    if (auto sent = platform::sendWithHandles(h.fd.get(), encodeReply(reply), {},
                                              platform::Blocking::kDontWait);
        !sent) {
      spdlog::warn("host {}: cannot send a reply ({}); closing it", h.id, sent.error().message);
      return false;
    }
    return true;
  }

  // Reads the pending datagrams of a host, at most kMaxRequestsPerTurn (a flooding host must
  // not starve the monitors; poll reports the rest next turn). False: the connection is done.
  bool serviceHost(Host& h) {
    for (int turn = 0; turn < kMaxRequestsPerTurn; ++turn) {
      std::byte buffer[abi::kVdisplayMaxMessageSize + 1];
      auto received =
          platform::receiveWithHandles(h.fd.get(), buffer, platform::Blocking::kDontWait);
      if (!received) {
        spdlog::warn("host {}: {}", h.id, received.error().message);
        return false;
      }
      if (!*received) return true;  // nothing more this turn
      platform::ReceivedDatagram& r = **received;
      if (r.closed()) return false;  // orderly close
      const std::span<const std::byte> datagram(buffer, r.size);
      const auto peek = peekHeader(datagram);
      const uint16_t type = peek ? peek->type : 0;
      const uint32_t request_id = peek ? peek->request_id : 0;
      Reply reply;
      if (r.handles_truncated) {
        reply = refusal(type, request_id, VdisplayStatusCode::kBadMessage,
                        fmt::format("message carried more than {} fds", abi::kMaxMessageFds));
      } else if (r.truncated || datagram.size() > abi::kVdisplayMaxMessageSize) {
        reply = refusal(type, request_id, VdisplayStatusCode::kBadMessage,
                        fmt::format("message larger than {} bytes", abi::kVdisplayMaxMessageSize));
      } else {
        auto parsed = parseRequest(datagram, std::move(r.handles));
        if (auto* error = std::get_if<ParseError>(&parsed)) {
          reply = refusal(type, request_id, error->code, error->message);
        } else {
          auto& request = std::get<Request>(parsed);
          reply = driver_->handle(h.id, std::move(request));
          context_->heartbeat();
        }
      }
      if (!reply.ok())
        spdlog::info("host {}: refused {} ({}): {}", h.id,
                     toString(static_cast<VdisplayMessageType>(type)), toString(reply.code),
                     reply.message);
      if (!sendReply(h, reply)) return false;
      if (reply.ok() && reply.type == VdisplayMessageType::kSetMode) {
        const auto& m = std::get<abi::VdisplayMonitorReply>(reply.body);
        if (auto sent =
                context_->sendEvent(abi::Event::kModeChanged, (uint64_t{m.width} << 32) | m.height);
            !sent)
          spdlog::error("mode change event: {}", sent.error().message);
      }
    }
    return true;
  }

 public:
  // One turn: waits for host requests, X events and frame deadlines, at most `budget_ns`, and
  // handles what came; then the watchdog.
  Result<void> step(int64_t budget_ns) override {
    if (!running_) {
      context_->setState(abi::WorkerState::kRunning);
      running_ = true;
    }
    const uint64_t now = monotonicNs();
    uint64_t wake = now + static_cast<uint64_t>(std::max<int64_t>(budget_ns, 0));
    const auto monitors = driver_->monitors();
    for (Monitor* m : monitors) wake = std::min(wake, m->nextWakeNs());
    if (auto deadline = driver_->nextWatchdogDeadline()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - clock_->now()).count();
      wake = std::min(wake, now + static_cast<uint64_t>(std::max<int64_t>(left, 0)));
    }

    std::vector<pollfd> fds;
    fds.push_back({listen_.valid() ? listen_.get() : -1, POLLIN, 0});
    const size_t first_host = fds.size();
    for (const Host& h : hosts_) fds.push_back({h.fd.get(), POLLIN, 0});
    const size_t first_monitor = fds.size();
    for (Monitor* m : monitors) fds.push_back({m->pollFd(), POLLIN, 0});

    // Round up: waking a hair early would only spin until the deadline.
    const int timeout_ms = wake > now ? static_cast<int>((wake - now + 999'999) / 1'000'000) : 0;
    // A signal cuts the wait short (EINTR): the runtime sees it right after this turn.
    if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR)
      return makeError("poll: {}", std::strerror(errno));
    context_->heartbeat();
    if (stopSignalled()) return {};
    if (listen_.valid() && fds[0].revents != 0) acceptHosts();

    // Hosts: requests, closed connections. (acceptHosts only appended after first_host.)
    std::vector<uint64_t> closed;
    for (size_t i = 0; i < hosts_.size() && first_host + i < first_monitor; ++i) {
      if (fds[first_host + i].revents == 0) continue;
      if (!serviceHost(hosts_[i])) closed.push_back(hosts_[i].id);
    }
    for (uint64_t id : closed)
      if (auto open = closeHost(id, "closed its connection"); !open) return open;

    // Monitors: X events and grab replies, frame deadlines. A request above may have removed
    // some of the monitors polled, so look them up again.
    const uint64_t after = monotonicNs();
    const auto live = driver_->monitors();
    for (size_t i = 0; i < monitors.size(); ++i) {
      Monitor* m = monitors[i];
      if (std::find(live.begin(), live.end(), m) == live.end()) continue;
      if (fds[first_monitor + i].revents != 0 || after >= m->nextWakeNs()) m->service(after);
    }
    for (Monitor* m : live)
      if (std::find(monitors.begin(), monitors.end(), m) == monitors.end() &&
          after >= m->nextWakeNs())
        m->service(after);

    // A host whose requests wait unread (we were busy, e.g. starting an X server) is alive:
    // read them before the watchdog judges anyone.
    if (driver_->nextWatchdogDeadline() && *driver_->nextWatchdogDeadline() <= clock_->now())
      if (auto open = serviceReadableHosts(); !open) return open;
    for (uint64_t id : driver_->expireHosts()) {
      auto it =
          std::find_if(hosts_.begin(), hosts_.end(), [&](const Host& h) { return h.id == id; });
      if (it == hosts_.end()) continue;
      if (it->control) {
        // funkhausd stays our host: its monitors are gone, it is watched again under a new id.
        driver_->removeHost(id);
        it->id = driver_->addHost();
      } else {
        driver_->removeHost(id);
        hosts_.erase(it);
      }
    }
    return {};
  }

 private:
  // Services every host with pending input, without waiting. An error when the driver must
  // stop (funkhausd's control socket closed).
  Result<void> serviceReadableHosts() {
    std::vector<pollfd> fds;
    for (const Host& h : hosts_) fds.push_back({h.fd.get(), POLLIN, 0});
    if (fds.empty() || poll(fds.data(), fds.size(), 0) <= 0) return {};
    std::vector<uint64_t> readable, closed;
    for (size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents != 0) readable.push_back(hosts_[i].id);
    for (uint64_t id : readable) {
      auto it =
          std::find_if(hosts_.begin(), hosts_.end(), [&](const Host& h) { return h.id == id; });
      if (it != hosts_.end() && !serviceHost(*it)) closed.push_back(id);
    }
    for (uint64_t id : closed)
      if (auto open = closeHost(id, "closed its connection"); !open) return open;
    return {};
  }

  // Removes a host whose connection ended. An error when the driver must stop.
  Result<void> closeHost(uint64_t id, const char* why) {
    auto it = std::find_if(hosts_.begin(), hosts_.end(), [&](const Host& h) { return h.id == id; });
    if (it == hosts_.end()) return {};
    const bool control = it->control;
    spdlog::info("host {} {}", id, why);
    driver_->removeHost(id);
    hosts_.erase(it);
    if (control) return makeError(ErrorCode::kPeerLost, "funkhausd closed the control socket");
    return {};
  }

  // Removes every monitor (X servers stopped and reaped) and the listening socket. Idempotent.
  void shutdown() {
    if (driver_) spdlog::info("stopping: removing {} monitor(s)", driver_->monitorCount());
    hosts_.clear();
    driver_.reset();
    if (listen_.valid()) {
      listen_.reset();
      unlink(options_.listen_path.c_str());
    }
  }

  VdisplayOptions options_;
  WorkerContext* context_ = nullptr;
  UniqueFd listen_;
  std::vector<Host> hosts_;
  StageStats stats_;
  std::unique_ptr<Clock> clock_;
  std::optional<PrivateDir> private_dir_;  // declared before driver_: outlives the monitors
  std::unique_ptr<Driver> driver_;
  bool running_ = false;
};

}  // namespace

bool validateOptions(const VdisplayOptions& o, std::string* error) {
  if (o.max_monitors < 1 || o.max_monitors > abi::kVdisplayMaxMonitors) {
    *error = fmt::format("--max-monitors {} is out of range (1..{})", o.max_monitors,
                         abi::kVdisplayMaxMonitors);
    return false;
  }
  if (o.watchdog_ms < kMinWatchdogMs || o.watchdog_ms > kMaxWatchdogMs) {
    *error = fmt::format("--watchdog-ms {} is out of range ({}..{})", o.watchdog_ms, kMinWatchdogMs,
                         kMaxWatchdogMs);
    return false;
  }
  if (o.listen_path.size() >= sizeof(sockaddr_un::sun_path)) {
    *error =
        fmt::format("--listen path is longer than {} bytes", sizeof(sockaddr_un::sun_path) - 1);
    return false;
  }
  if (o.xvfb_binary.empty()) {
    *error = "--xvfb must name a program";
    return false;
  }
  return true;
}

int runVdisplay(const VdisplayOptions& options) {
  std::string error;
  if (!validateOptions(options, &error)) {
    spdlog::error("{}", error);
    return abi::kExitBadConfig;
  }
  VdisplayStage stage(options);
  RuntimeOptions runtime;
  runtime.kind = abi::WorkerKind::kVdisplay;
  runtime.name = "vdisplay";
  // Standalone (no funkhausd) only with a socket of its own for hosts.
  runtime.standalone_ok = !options.listen_path.empty();
  return runWorker(stage, runtime);
}

}  // namespace funkhaus::vdisplay
