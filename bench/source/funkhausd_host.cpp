// FunkhausdHost: funkhausd's start-up until every worker runs, its control socket and its stop.
#include "funkhaus/bench/funkhausd_host.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "funkhaus/bench/run_dir.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::bench {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kStartTimeoutMs = 30'000;  // funkhausd up and every worker running
constexpr int kControlTimeoutMs = 3'000;
constexpr int kStopTimeoutMs = 10'000;
constexpr size_t kLogTailBytes = 3000;

bool allRunning(const json& status) {
  const auto workers = FunkhausdHost::sessionWorkers(status);
  if (workers.size() < 3) return false;
  for (const json& w : workers) {
    const auto state = w.find("state");
    if (state == w.end() || !state->is_string() || state->get<std::string>() != "running")
      return false;
  }
  return true;
}

}  // namespace

std::string FunkhausdHost::missingBinary(const fs::path& bin_dir) {
  for (const char* binary : {"funkhausd", "funkhaus-capture", "funkhaus-encode", "funkhaus-net"})
    if (access((bin_dir / binary).c_str(), X_OK) != 0) return (bin_dir / binary).string();
  return "";
}

Result<std::unique_ptr<FunkhausdHost>> FunkhausdHost::start(const FunkhausdLaunch& launch) {
  std::unique_ptr<FunkhausdHost> host(new FunkhausdHost());
  if (auto started = host->launch(launch); !started) return started.error();
  return host;
}

Result<void> FunkhausdHost::launch(const FunkhausdLaunch& launch) {
  auto dir = freshRunDir(launch.work_root, launch.dir_name);
  if (!dir) return dir.error();
  dir_ = *dir;
  socket_ = (dir_ / "control.sock").string();
  if (socket_.size() >= sizeof(sockaddr_un::sun_path))
    return makeError("control socket path {} is too long for a unix socket", socket_);
  // The config quotes the path as a TOML literal string.
  for (char c : socket_)
    if (c == '\'' || static_cast<unsigned char>(c) < 0x20)
      return makeError("the work directory {} holds a quote or control character", dir_.string());
  const fs::path config = configPath();
  {
    std::ofstream file(config);
    file << launch.config(socket_);
    file.close();
    if (!file) return makeError("cannot write {}", config.string());
  }
  if (const std::string missing = missingBinary(launch.bin_dir); !missing.empty())
    return makeError("{} is missing or not executable: build it first", missing);

  log_ = dir_ / "funkhausd.log";
  auto process = spawnLogged({(launch.bin_dir / "funkhausd").string(), "--mode", "user", "--config",
                              config.string(), "--worker-dir", launch.bin_dir.string()},
                             log_, launch.environment);
  if (!process) return makeError("starting funkhausd: {}", process.error().message);
  process_.emplace(std::move(*process));

  // Every worker running.
  const uint64_t deadline = monotonicNs() + uint64_t{kStartTimeoutMs} * 1'000'000;
  json status;
  for (;;) {
    if (auto exited = process_->poll())
      return makeError("funkhausd exited at start ({}):\n{}", describeExit(*exited), logTail());
    auto s = call(R"({"cmd":"status"})");
    if (s && allRunning(*s)) {
      status = std::move(*s);
      break;
    }
    if (monotonicNs() > deadline)
      return makeError("funkhausd's workers were not all running after {} s:\n{}",
                       kStartTimeoutMs / 1000, logTail());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  workers_.clear();
  for (const json& w : sessionWorkers(status)) {
    const auto pid = w.find("pid");
    if (pid == w.end() || !pid->is_number_integer()) continue;
    const auto name = w.find("name");
    workers_.push_back({name != w.end() && name->is_string() ? name->get<std::string>() : "?",
                        static_cast<pid_t>(pid->get<int64_t>())});
  }
  const auto net = status.find("net");
  if (net == status.end() || !net->is_object() || !(*net)["rtsp_port"].is_number_unsigned() ||
      !(*net)["path"].is_string())
    return makeError("funkhausd's status has no net.rtsp_port / net.path: {}", status.dump());
  const auto port = (*net)["rtsp_port"].get<uint64_t>();
  if (port == 0 || port > 65535) return makeError("funkhausd reports RTSP port {}", port);
  rtsp_port_ = static_cast<uint16_t>(port);
  rtsp_path_ = (*net)["path"].get<std::string>();
  return {};
}

Result<json> FunkhausdHost::call(const std::string& request) const {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_.c_str(), socket_.size() + 1);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return makeError("control socket {}: {}", socket_, std::strerror(errno));
  const std::string line = request + "\n";
  if (send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
    return makeError("control socket: send: {}", std::strerror(errno));
  std::string reply;
  char buf[4096];
  const uint64_t deadline = monotonicNs() + uint64_t{kControlTimeoutMs} * 1'000'000;
  for (;;) {
    const uint64_t now = monotonicNs();
    if (now > deadline)
      return makeError("control socket: no reply within {} ms", kControlTimeoutMs);
    pollfd p{fd.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000) + 1) <= 0) continue;
    const ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return makeError("control socket: recv: {}", std::strerror(errno));
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > (1u << 20)) return makeError("control socket: reply larger than 1 MiB");
  }
  json j = json::parse(reply, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return makeError("control socket: reply is not JSON");
  return j;
}

std::string FunkhausdHost::logTail() const { return fileTail(log_, kLogTailBytes); }

Result<void> FunkhausdHost::stop(bool keep_files) {
  Result<void> result;
  if (running()) {
    process_->signal(SIGTERM);
    const auto exited = process_->wait(std::chrono::milliseconds(kStopTimeoutMs));
    if (!exited) {
      process_->stop(std::chrono::milliseconds(0));
      result =
          makeError("funkhausd did not stop within {} s of SIGTERM: killed", kStopTimeoutMs / 1000);
    } else if (*exited != ExitStatus{false, 0}) {
      result = makeError("funkhausd exited ({}):\n{}", describeExit(*exited), logTail());
    }
  }
  process_.reset();
  if (!dir_.empty()) {
    if (result.ok() && !keep_files) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
    dir_.clear();
  }
  return result;
}

std::vector<json> FunkhausdHost::sessionWorkers(const json& status) {
  std::vector<json> out;
  if (!status.is_object()) return out;
  const auto sessions = status.find("sessions");
  if (sessions == status.end() || !sessions->is_array() || sessions->empty()) return out;
  const json& session = (*sessions)[0];
  if (!session.is_object()) return out;
  const auto workers = session.find("workers");
  if (workers == session.end() || !workers->is_array()) return out;
  for (const json& w : *workers)
    if (w.is_object()) out.push_back(w);
  return out;
}

}  // namespace funkhaus::bench
