// SoundServer: the session's own sound server, or a private pulseaudio funkhausd runs for it.
#include "funkhaus/supervisor/sound_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "funkhaus/common/unique_fd.h"

namespace funkhaus::supervisor {

namespace {

// pulseaudio's absolute path in `path` ("" when it is not installed).
std::string findProgram(const std::string& path, const std::string& program) {
  std::string_view rest = path;
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string candidate = std::string(rest.substr(0, colon)) + "/" + program;
    if (candidate[0] == '/' && access(candidate.c_str(), X_OK) == 0) return candidate;
    rest = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
  }
  return {};
}

// A 0700 directory owned by the server's user. mkdir fails on anything already there (a
// symlink included), and the chown goes through the directory just made, not a path.
Result<void> makePrivateDir(const std::string& path, const std::optional<Credentials>& owner) {
  if (mkdir(path.c_str(), 0700) != 0)
    return makeError("cannot make {}: {}", path, std::strerror(errno));
  if (!owner) return {};
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid() || fchown(fd.get(), owner->uid, owner->gid) != 0)
    return makeError("cannot give {} to uid {}: {}", path, owner->uid, std::strerror(errno));
  return {};
}

}  // namespace

bool unixSocketAnswers(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return true;
  return errno == EAGAIN;  // listening, its backlog full: a busy server is still one
}

std::optional<std::string> sessionSoundServer(
    const std::map<std::string, std::string>& environment,
    const std::function<bool(const std::string&)>& answers) {
  if (auto it = environment.find("PULSE_SERVER"); it != environment.end() && !it->second.empty())
    return it->second;
  if (auto it = environment.find("XDG_RUNTIME_DIR");
      it != environment.end() && !it->second.empty() && it->second[0] == '/') {
    const std::string socket = it->second + "/pulse/native";
    if (answers(socket)) return "unix:" + socket;
  }
  return std::nullopt;
}

ChildSpec pulseaudioSpec(const SoundServerLaunch& launch) {
  ChildSpec spec;
  spec.program = findProgram(launch.path, "pulseaudio");
  spec.args = {"--daemonize=no",
               "--exit-idle-time=-1",
               "--disallow-exit",
               "--use-pid-file=no",
               "--log-target=stderr",
               "-n",
               "-L",
               "module-native-protocol-unix socket=" + launch.dir + "/native auth-anonymous=1",
               "-L",
               "module-always-sink"};
  spec.environment = std::map<std::string, std::string>{{"HOME", launch.dir},
                                                        {"XDG_RUNTIME_DIR", launch.dir + "/run"},
                                                        {"XDG_CONFIG_HOME", launch.dir + "/config"},
                                                        {"XDG_STATE_HOME", launch.dir + "/state"},
                                                        {"XDG_CACHE_HOME", launch.dir + "/cache"},
                                                        {"PATH", launch.path}};
  spec.credentials = launch.credentials;
  spec.stdout_fd = STDERR_FILENO;  // funkhausd's log (the journal under systemd)
  return spec;
}

SoundServer::~SoundServer() { stop("funkhausd stops"); }

void SoundServer::useExternal(std::string address) {
  stop("the session has its own");
  address_ = std::move(address);
  state_ = State::kExternal;
  spdlog::info("sound server: the session's own, PULSE_SERVER={}", address_);
}

Result<void> SoundServer::start(SoundServerLaunch launch) {
  stop("a new one starts");
  failure_.clear();
  restarts_ = 0;
  last_exit_.reset();
  backoff_ = backoff_config_.initial_backoff;
  state_ = State::kFailed;
  if (findProgram(launch.path, "pulseaudio").empty()) {
    failure_ = "pulseaudio is not installed (Debian package pulseaudio)";
    return makeError("sound server: {}", failure_);
  }
  std::error_code ec;
  std::filesystem::remove_all(launch.dir, ec);  // a crashed funkhausd's; symlinks not followed
  Result<void> made = makePrivateDir(launch.dir, launch.credentials);
  for (const char* sub : {"/run", "/config", "/state", "/cache"})
    if (made) made = makePrivateDir(launch.dir + sub, launch.credentials);
  if (!made) {
    failure_ = made.error().message;
    std::filesystem::remove_all(launch.dir, ec);
    return makeError("sound server: {}", failure_);
  }
  address_ = "unix:" + launch.dir + "/native";
  launch_ = std::move(launch);
  if (!spawn()) return makeError("sound server: {}", failure_);
  spdlog::info("sound server: the session has none: started pulseaudio (pid {}), PULSE_SERVER={}",
               process_->pid(), address_);
  return {};
}

bool SoundServer::spawn() {
  auto child = ChildProcess::spawn(pulseaudioSpec(*launch_));
  if (!child) {
    failure_ = "cannot start pulseaudio: " + child.error().message;
    state_ = State::kFailed;
    return false;
  }
  process_.emplace(std::move(*child));
  started_at_ = clock_.now();
  state_ = State::kStarting;
  return true;
}

void SoundServer::stop(const std::string& why) {
  if (process_ && process_->running()) {
    spdlog::info("sound server: stopping pulseaudio (pid {}): {}", process_->pid(), why);
    process_->stop(std::chrono::duration_cast<std::chrono::milliseconds>(grace_));
  }
  process_.reset();
  if (launch_) {
    std::error_code ec;
    std::filesystem::remove_all(launch_->dir, ec);
  }
  launch_.reset();
  address_.clear();
  failure_.clear();
  state_ = State::kNone;
}

void SoundServer::tick() {
  if (!launch_) return;
  const TimePoint now = clock_.now();
  if (state_ == State::kRestarting && now >= restart_at_) {
    if (spawn())
      spdlog::info("sound server: pulseaudio started again (pid {}, restart {})", process_->pid(),
                   restarts_);
    return;
  }
  if (!process_) return;
  if (auto status = process_->poll()) {
    last_exit_ = *status;
    process_.reset();
    if (now - started_at_ >= backoff_config_.stable_after)
      backoff_ = backoff_config_.initial_backoff;
    restart_at_ = now + backoff_;
    ++restarts_;
    spdlog::warn("sound server: pulseaudio ended ({}): starting it again in {} ms",
                 describeExit(*status),
                 std::chrono::duration_cast<std::chrono::milliseconds>(backoff_).count());
    backoff_ = std::min<Duration>(backoff_ * 2, backoff_config_.max_backoff);
    state_ = State::kRestarting;
    return;
  }
  if (state_ == State::kStarting && unixSocketAnswers(launch_->dir + "/native")) {
    state_ = State::kRunning;
    spdlog::info("sound server: pulseaudio (pid {}) answers at {}", process_->pid(), address_);
  }
}

Duration SoundServer::restartIn() const {
  if (state_ != State::kRestarting) return Duration{};
  return std::max<Duration>(restart_at_ - clock_.now(), Duration{});
}

const char* toString(SoundServer::State state) {
  switch (state) {
    case SoundServer::State::kNone:
      return "none";
    case SoundServer::State::kExternal:
      return "the session's own";
    case SoundServer::State::kStarting:
      return "starting";
    case SoundServer::State::kRunning:
      return "running";
    case SoundServer::State::kRestarting:
      return "restarting";
    case SoundServer::State::kFailed:
      return "failed";
  }
  return "?";
}

}  // namespace funkhaus::supervisor
