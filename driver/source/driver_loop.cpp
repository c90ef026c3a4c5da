// funkhaus-vdisplay event loop: poll over signals, the funkhausd channel, host sockets and the
// monitors; requests are parsed here and handled by Driver.
#include "funkhaus/vdisplay/driver_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
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
#include "funkhaus/common/fd_passing.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/common/worker_channel.h"
#include "funkhaus/vdisplay/driver.h"
#include "funkhaus/vdisplay/xauth.h"
#include "funkhaus/vdisplay/xvfb_backend.h"

namespace funkhaus::vdisplay {
namespace {

constexpr int kTickMs = 50;  // heartbeat and status-page cadence
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

class Loop {
 public:
  explicit Loop(const VdisplayOptions& options) : options_(options) {}

  int run() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a dead X server must not kill us through libxcb's writes
    signal_fd_ = UniqueFd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd_.valid()) {
      spdlog::error("signalfd: {}", std::strerror(errno));
      return abi::kExitFailure;
    }

    if (isSeqpacketSocket(kWorkerChannelFd)) {
      auto channel = WorkerChannel::connect(kWorkerChannelFd, abi::WorkerKind::kVdisplay);
      if (!channel) {
        spdlog::error("funkhausd channel: {}", channel.error().message);
        return abi::kExitPeerLost;
      }
      channel_.emplace(std::move(*channel));
    }
    if (!options_.listen_path.empty()) {
      auto s = listenOn(options_.listen_path);
      if (!s) {
        spdlog::error("{}", s.error().message);
        return abi::kExitBadConfig;
      }
      listen_ = std::move(*s);
    }
    if (!channel_ && !listen_.valid()) {
      spdlog::error("not started by funkhausd (no channel on fd 3) and no --listen PATH");
      return abi::kExitBadConfig;
    }

    std::string runtime = options_.runtime_dir;
    if (runtime.empty()) {
      const char* xdg = getenv("XDG_RUNTIME_DIR");
      runtime = xdg != nullptr && *xdg != '\0' ? xdg : "/tmp";
    }
    auto private_dir = PrivateDir::create(runtime, "funkhaus-vdisplay-");
    if (!private_dir) {
      spdlog::error("{}", private_dir.error().message);
      return abi::kExitBadConfig;
    }
    if (private_dir->path().size() + 32 >= abi::kVdisplayPathSize) {
      spdlog::error("runtime directory {} is too long for the Xauthority paths",
                    private_dir->path());
      return abi::kExitBadConfig;
    }
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
    backend.on_frame = [this](uint64_t capture_ns, uint64_t publish_ns) {
      stats_.onFrame(capture_ns, publish_ns);
    };
    backend.keepalive = [this] { heartbeat(); };
    clock_ = Clock::createSteady();
    driver_ = std::make_unique<Driver>(driver_options, createXvfbBackend(backend), *clock_);

    if (channel_) {
      if (UniqueFd control = channel_->takeFd(
              abi::FdRole::kDevice, static_cast<uint32_t>(abi::DeviceId::kDisplayControl));
          control.valid()) {
        if (!isSeqpacketSocket(control.get())) {
          spdlog::error("the kControl fd from funkhausd is not a SOCK_SEQPACKET socket");
          return abi::kExitBadConfig;
        }
        fcntl(control.get(), F_SETFL, fcntl(control.get(), F_GETFL) | O_NONBLOCK);
        addHost(std::move(control), true);
      } else if (!listen_.valid()) {
        spdlog::warn("funkhausd sent no control socket (kControl): no host can reach us");
      }
      if (auto ready = channel_->sendReady(); !ready) {
        spdlog::error("funkhausd channel: {}", ready.error().message);
        return abi::kExitPeerLost;
      }
      channel_->setState(abi::WorkerState::kRunning);
    }
    spdlog::info("funkhaus-vdisplay {}.{}.{} ready: {}{}max {} monitors, watchdog {} ms",
                 kDriverVersion >> 16, (kDriverVersion >> 8) & 0xFF, kDriverVersion & 0xFF,
                 channel_ ? "supervised, " : "",
                 listen_.valid() ? "listening on " + options_.listen_path + ", " : "",
                 driver_options.max_monitors, options_.watchdog_ms);

    const int code = loop();
    spdlog::info("stopping: removing {} monitor(s)", driver_->monitorCount());
    if (channel_) channel_->setState(abi::WorkerState::kStopping);
    hosts_.clear();
    driver_.reset();  // every X server stopped and reaped
    if (listen_.valid()) unlink(options_.listen_path.c_str());
    return code;
  }

 private:
  struct Host {
    uint64_t id = 0;
    UniqueFd fd;
    bool control = false;  // funkhausd's kControl socket
  };

  void heartbeat() {
    if (!channel_) return;
    const uint64_t now = monotonicNs();
    if (now < next_heartbeat_ns_) return;
    next_heartbeat_ns_ = now + 20'000'000;
    channel_->heartbeat();
    auto& page = channel_->status();
    const MonitorCounters totals = driver_ ? driver_->totals() : MonitorCounters{};
    abi::storeRelaxed(page.frames_out, totals.frames_out);
    abi::storeRelaxed(page.drops, totals.drops);
    abi::storeRelaxed(page.errors, totals.errors);
    stats_.publish(page, now);
  }

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
    if (auto sent = sendWithFds(h.fd.get(), encodeReply(reply), {}, MSG_DONTWAIT); !sent) {
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
      auto received = receiveWithFds(h.fd.get(), buffer, MSG_DONTWAIT);
      if (!received) {
        spdlog::warn("host {}: {}", h.id, received.error().message);
        return false;
      }
      if (!*received) return true;  // nothing more this turn
      Received& r = **received;
      if (r.closed()) return false;  // orderly close
      const std::span<const std::byte> datagram(buffer, r.size);
      const auto peek = peekHeader(datagram);
      const uint16_t type = peek ? peek->type : 0;
      const uint32_t request_id = peek ? peek->request_id : 0;
      Reply reply;
      if (r.fds_truncated) {
        reply = refusal(type, request_id, VdisplayStatusCode::kBadMessage,
                        fmt::format("message carried more than {} fds", abi::kMaxMessageFds));
      } else if (r.truncated || datagram.size() > abi::kVdisplayMaxMessageSize) {
        reply = refusal(type, request_id, VdisplayStatusCode::kBadMessage,
                        fmt::format("message larger than {} bytes", abi::kVdisplayMaxMessageSize));
      } else {
        auto parsed = parseRequest(datagram, std::move(r.fds));
        if (auto* error = std::get_if<ParseError>(&parsed)) {
          reply = refusal(type, request_id, error->code, error->message);
        } else {
          auto& request = std::get<Request>(parsed);
          reply = driver_->handle(h.id, std::move(request));
          heartbeat();
        }
      }
      if (!reply.ok())
        spdlog::info("host {}: refused {} ({}): {}", h.id,
                     toString(static_cast<VdisplayMessageType>(type)), toString(reply.code),
                     reply.message);
      if (!sendReply(h, reply)) return false;
      if (channel_ && reply.ok() && reply.type == VdisplayMessageType::kSetMode) {
        const auto& m = std::get<abi::VdisplayMonitorReply>(reply.body);
        (void)channel_->sendEvent(abi::Event::kModeChanged, (uint64_t{m.width} << 32) | m.height);
      }
    }
    return true;
  }

  int loop() {
    for (;;) {
      heartbeat();
      const uint64_t now = monotonicNs();
      uint64_t wake = now + kTickMs * 1'000'000ull;
      const auto monitors = driver_->monitors();
      for (Monitor* m : monitors) wake = std::min(wake, m->nextWakeNs());
      if (auto deadline = driver_->nextWatchdogDeadline()) {
        const auto left =
            std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - clock_->now()).count();
        wake = std::min(wake, now + static_cast<uint64_t>(std::max<int64_t>(left, 0)));
      }

      std::vector<pollfd> fds;
      fds.push_back({signal_fd_.get(), POLLIN, 0});
      fds.push_back({channel_ ? channel_->fd() : -1, POLLIN, 0});
      fds.push_back({listen_.valid() ? listen_.get() : -1, POLLIN, 0});
      const size_t first_host = fds.size();
      for (const Host& h : hosts_) fds.push_back({h.fd.get(), POLLIN, 0});
      const size_t first_monitor = fds.size();
      for (Monitor* m : monitors) fds.push_back({m->pollFd(), POLLIN, 0});

      // Round up: waking a hair early would only spin until the deadline.
      const int timeout_ms = wake > now ? static_cast<int>((wake - now + 999'999) / 1'000'000) : 0;
      if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
        spdlog::error("poll: {}", std::strerror(errno));
        return abi::kExitFailure;
      }
      heartbeat();

      if (fds[0].revents != 0) {
        signalfd_siginfo info{};
        if (read(signal_fd_.get(), &info, sizeof info) > 0)
          spdlog::info("signal {}: shutting down", info.ssi_signo);
        return abi::kExitStopped;
      }
      if (channel_ && fds[1].revents != 0) {
        auto command = channel_->waitCommand(0);
        if (!command) {
          spdlog::error("funkhausd channel: {}", command.error().message);
          return abi::kExitPeerLost;
        }
        if (*command && (*command)->command == static_cast<uint32_t>(abi::Command::kStop)) {
          spdlog::info("funkhausd asked us to stop");
          return abi::kExitStopped;
        }
      }
      if (listen_.valid() && fds[2].revents != 0) acceptHosts();

      // Hosts: requests, closed connections. (acceptHosts only appended after first_host.)
      std::vector<uint64_t> closed;
      for (size_t i = 0; i < hosts_.size() && first_host + i < first_monitor; ++i) {
        if (fds[first_host + i].revents == 0) continue;
        if (!serviceHost(hosts_[i])) closed.push_back(hosts_[i].id);
      }
      for (uint64_t id : closed)
        if (int code = closeHost(id, "closed its connection"); code >= 0) return code;

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
        if (int code = serviceReadableHosts(); code >= 0) return code;
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
    }
  }

  // Services every host with pending input, without waiting. Returns an exit code if the
  // driver must stop, else -1.
  int serviceReadableHosts() {
    std::vector<pollfd> fds;
    for (const Host& h : hosts_) fds.push_back({h.fd.get(), POLLIN, 0});
    if (fds.empty() || poll(fds.data(), fds.size(), 0) <= 0) return -1;
    std::vector<uint64_t> readable, closed;
    for (size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents != 0) readable.push_back(hosts_[i].id);
    for (uint64_t id : readable) {
      auto it =
          std::find_if(hosts_.begin(), hosts_.end(), [&](const Host& h) { return h.id == id; });
      if (it != hosts_.end() && !serviceHost(*it)) closed.push_back(id);
    }
    for (uint64_t id : closed)
      if (int code = closeHost(id, "closed its connection"); code >= 0) return code;
    return -1;
  }

  // Removes a host whose connection ended. Returns an exit code if the driver must stop.
  int closeHost(uint64_t id, const char* why) {
    auto it = std::find_if(hosts_.begin(), hosts_.end(), [&](const Host& h) { return h.id == id; });
    if (it == hosts_.end()) return -1;
    const bool control = it->control;
    spdlog::info("host {} {}", id, why);
    driver_->removeHost(id);
    hosts_.erase(it);
    if (control) {
      spdlog::error("funkhausd closed the control socket");
      return abi::kExitPeerLost;
    }
    return -1;
  }

  VdisplayOptions options_;
  UniqueFd signal_fd_;
  std::optional<WorkerChannel> channel_;
  UniqueFd listen_;
  std::vector<Host> hosts_;
  StageStats stats_;
  std::unique_ptr<Clock> clock_;
  std::optional<PrivateDir> private_dir_;  // declared before driver_: outlives the monitors
  std::unique_ptr<Driver> driver_;
  uint64_t next_heartbeat_ns_ = 0;
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
  Loop loop(options);
  return loop.run();
}

}  // namespace funkhaus::vdisplay
