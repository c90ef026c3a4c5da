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
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/channel.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/supervisor/control_protocol.h"
#include "funkhaus/supervisor/restart_policy.h"
#include "funkhaus/supervisor/spawn.h"

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

abi::WorkerKind kindOf(const std::string& name) {
  if (name == "capture") return abi::WorkerKind::kCapture;
  if (name == "encode") return abi::WorkerKind::kEncode;
  if (name == "net") return abi::WorkerKind::kNet;
  return abi::WorkerKind::kVdisplay;
}

// What the supervisor wants once the current process is gone.
enum class AfterExit { kPolicy, kRestartNow, kStayStopped };

struct Worker {
  Worker(std::string n, const RestartPolicyConfig& policy_config)
      : name(std::move(n)), kind(kindOf(name)), policy(policy_config) {}

  std::string name;
  abi::WorkerKind kind;
  WorkerState state = WorkerState::kStopped;
  pid_t pid = -1;
  uint64_t incarnation = 0;  // bumps per spawn: async callbacks of an old process are ignored
  int spawns = 0;            // restarts = spawns - 1, whether by policy or by request
  std::unique_ptr<asio::posix::stream_descriptor> pidfd, channel, output;
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
        acceptor_(io_),
        escalation_(options_.config.restart) {}

  int run() {
    if (auto listening = listen(); !listening) {
      spdlog::critical("control socket: {}", listening.error().message);
      return 1;
    }
    auto session = sessions_->current();
    if (!session) {
      spdlog::critical("session: {}", session.error().message);
      return 1;
    }
    if (*session) startSession(**session);
    waitSignals();
    scheduleTick();
    io_.run();
    std::error_code ec;
    std::filesystem::remove(options_.control_socket, ec);
    return exit_code_;
  }

 private:
  // ---- session and workers ----------------------------------------------------------------

  void startSession(const SessionInfo& session) {
    session_ = session;
    if (options_.mode == RunMode::kSystem && session.uid != geteuid())
      credentials_ = Credentials{session.uid, session.gid, session.groups};
    else
      credentials_.reset();
    workers_.clear();
    for (const auto& name : options_.config.workers)
      workers_.push_back(std::make_unique<Worker>(name, options_.config.restart));
    spdlog::info("session {} ({}) of user {} (uid {}): starting {} workers", session.id,
                 session.type, session.user, session.uid, workers_.size());
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
    SpawnSpec spec;
    spec.path = options_.worker_dir + "/funkhaus-" + w.name;
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
    if (waitid(P_PIDFD, static_cast<id_t>(w.pidfd->native_handle()), &info, WEXITED) != 0) {
      spdlog::error("{}: waitid: {}", w.name, std::strerror(errno));
      return;
    }
    ExitStatus exit{info.si_code != CLD_EXITED, info.si_status};
    w.last_exit = exit;
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
    if (w.channel)
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
        RingFdsMessage fds;
        fds.roles = {abi::FdRole::kStatusPage};
        fds.fds.emplace_back(dup(w.status_page->fd()));
        if (auto sent = sendMessage(w.channel->native_handle(), Message(std::move(fds))); !sent)
          return killNow(w, sent.error().message.c_str()), false;
      } else if (std::holds_alternative<ReadyMessage>(m)) {
        if (!w.hello || w.ready) return killNow(w, "ready out of order"), false;
        w.ready = true;
        w.state = WorkerState::kRunning;
        spdlog::info("{}: ready", w.name);
        updateStatus();
      } else if (auto* event = std::get_if<EventMessage>(&m)) {
        if (!w.ready) return killNow(w, "event before ready"), false;
        spdlog::info("{}: event {} arg {}", w.name, event->body.event, event->body.arg);
      } else {
        return killNow(w, "sent a supervisor-only message"), false;
      }
    }
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
    auto sessions = SessionSource::createFixed(config->session);
    if (!sessions) {
      spdlog::error("SIGHUP: config not reloaded: {}", sessions.error().message);
      return;
    }
    options_.config = std::move(*config);
    sessions_ = std::move(*sessions);
    auto session = sessions_->current();
    if (session && *session && !(**session == session_)) {
      spdlog::info("SIGHUP: the session changed: moving the workers");
      switchSession(**session);
    }
  }

  // Stops the old set in reverse start order, then starts the new one.
  void switchSession(const SessionInfo& next) {
    const TimePoint now = clock_->now();
    pending_session_ = next;
    for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) {
      (*it)->after_exit = AfterExit::kStayStopped;
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
    if (pending_session_) {
      auto next = std::move(*pending_session_);
      pending_session_.reset();
      startSession(next);
    }
  }

  // ---- systemd ----------------------------------------------------------------------------

  void updateStatus() {
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
          std::string reply;
          if (ec) {
            if (ec == asio::error::not_found)
              reply = errorReply(fmt::format("request longer than {} bytes", kMaxControlRequest));
            else
              return;
          } else {
            std::string line(asio::buffers_begin(conn->buffer.data()),
                             asio::buffers_begin(conn->buffer.data()) + static_cast<long>(n) - 1);
            reply = handle(*socket, line);
          }
          auto out = std::make_shared<std::string>(reply + "\n");
          asio::async_write(*socket, asio::buffer(*out),
                            [socket, out](const boost::system::error_code&, size_t) {
                              boost::system::error_code ignored;
                              socket->shutdown(stream_protocol::socket::shutdown_both, ignored);
                            });
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

  std::string handle(stream_protocol::socket& socket, const std::string& line) {
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
        const abi::WorkerStatusPage& s = status(w);
        j["counters"] = {{"frames_in", abi::atomicLoad(s.frames_in)},
                         {"frames_out", abi::atomicLoad(s.frames_out)},
                         {"drops", abi::atomicLoad(s.drops)},
                         {"errors", abi::atomicLoad(s.errors)}};
      }
      workers.push_back(j);
    }
    nlohmann::json session = {{"id", session_.id},
                              {"user", session_.user},
                              {"uid", session_.uid},
                              {"type", session_.type},
                              {"workers", workers}};
    return {{"ok", true},
            {"mode", toString(options_.mode)},
            {"pid", getpid()},
            {"sessions",
             session_.id.empty() ? nlohmann::json::array() : nlohmann::json::array({session})}};
  }

  SupervisorOptions options_;
  std::unique_ptr<SessionSource> sessions_;
  std::unique_ptr<Clock> clock_;
  asio::io_context io_;
  asio::signal_set signals_;
  asio::steady_timer tick_;
  stream_protocol::acceptor acceptor_;
  SessionEscalation escalation_;
  SessionInfo session_;
  std::optional<SessionInfo> pending_session_;
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
