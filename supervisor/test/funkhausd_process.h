// Funkhausd: a real funkhausd process for one test, with its own config, control socket and
// worker directory, plus a control-socket client. Used by the supervisor process tests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/common/unique_fd.h"

extern char** environ;

namespace funkhaus::test {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// A funkhausd started for one test, with its own config, socket and worker directory.
class Funkhausd {
 public:
  // `pipeline`: the test's extra config sets [capture] and [rings] itself (real streaming).
  // `workers`: [workers] start (the binaries of all four workers are always there).
  // `missing_binary`: that worker's binary is left out of the worker directory.
  // `encode_binary`: funkhaus-encode is this test worker (permanent_encode: exit_worker).
  explicit Funkhausd(const std::string& extra_config = "", bool permanent_encode = false,
                     const std::string& mode = "user", bool pipeline = false,
                     std::vector<std::string> workers = {"capture", "encode", "net"},
                     const std::string& missing_binary = "", fs::path encode_binary = {})
      : pipeline_(pipeline), workers_(std::move(workers)) {
    dir_ = fs::temp_directory_path() /
           ("funkhausd-test-" + std::to_string(getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
    const fs::path bin = FUNKHAUS_BIN_DIR;
    if (permanent_encode) encode_binary = FUNKHAUS_EXIT_WORKER;
    // funkhaus-audio only where it is built (a dangling link would count as present).
    for (const char* w :
         {"vdisplay", "capture", "encode", "net", "input", "audio", "web", "console"}) {
      if (std::string(w) == "audio" && access((bin / "funkhaus-audio").c_str(), X_OK) != 0)
        continue;
      if (missing_binary == w) continue;
      const fs::path target = (!encode_binary.empty() && std::string(w) == "encode")
                                  ? encode_binary
                                  : bin / (std::string("funkhaus-") + w);
      fs::create_symlink(target, dir_ / "bin" / (std::string("funkhaus-") + w));
    }
    socket_ = (dir_ / "control.sock").string();
    own_gamestream_ = extra_config.find("[gamestream]") != std::string::npos;
    own_console_ = extra_config.find("[console]") != std::string::npos;
    std::ofstream(dir_ / "funkhaus.toml") << baseConfig() << extra_config;
    const std::string config = (dir_ / "funkhaus.toml").string();
    const std::string worker_dir = (dir_ / "bin").string();
    std::vector<std::string> args = {(bin / "funkhausd").string(),
                                     "--mode",
                                     mode,
                                     "--config",
                                     config,
                                     "--worker-dir",
                                     worker_dir};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // Host workers keep their state under the test's directory (user mode: XDG_STATE_HOME).
    std::vector<std::string> env_storage = {"XDG_STATE_HOME=" +
                                            state_home.value_or(dir_ / "state").string()};
    for (char** e = environ; *e != nullptr; ++e)
      if (std::string(*e).rfind("XDG_STATE_HOME=", 0) != 0) env_storage.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string log = (dir_ / "funkhausd.log").string();
    // fork + exec rather than posix_spawn: funkhausd gets PR_SET_PDEATHSIG, so a test that
    // crashes takes its funkhausd (and through theirs, the workers) with it instead of leaving
    // an orphan that holds ctest's output pipe open.
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
  }

  ~Funkhausd() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    fs::remove_all(dir_);
  }

  // Where the next Funkhausd's host workers keep their state (XDG_STATE_HOME); unset: under its
  // own directory. A test that restarts funkhausd on the same state sets it.
  static inline std::optional<fs::path> state_home;

  pid_t pid() const { return pid_; }
  // Every test funkhausd: its own control socket, a free RTSP port, GameStream on free loopback
  // ports without mDNS (unless the test's config has its own [gamestream]), the console on a free
  // loopback port (unless it has its own [console]) and small rings, so
  // tests can run beside each other and beside a real funkhaus.
  std::string baseConfig() const {
    std::string base = "[control]\nsocket = \"" + socket_ +
                       "\"\n[workers]\nheartbeat_timeout_ms = " + (pipeline_ ? "1000" : "500") +
                       "\nstart = [";
    for (size_t i = 0; i < workers_.size(); ++i) base += (i ? ", \"" : "\"") + workers_[i] + "\"";
    base += "]\n[net]\nport = 0\n";
    if (!own_gamestream_)
      base += "[gamestream]\nbase_port = 0\nlisten_address = \"127.0.0.1\"\nmdns = false\n";
    if (!own_console_) base += "[console]\nport = 0\n";
    if (!pipeline_)
      base +=
          "[rings]\nmax_width = 320\nmax_height = 180\n"
          "[capture]\nwidth = 320\nheight = 180\nfps = 30\n";
    return base;
  }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path configPath() const { return dir_ / "funkhaus.toml"; }
  // Rewrites the config (control socket kept) with `extra_config` after the base lines.
  void rewriteConfig(const std::string& extra_config) const {
    std::ofstream(dir_ / "funkhaus.toml") << baseConfig() << extra_config;
  }
  const std::string& socket() const { return socket_; }
  std::string log() const {
    std::ifstream in(dir_ / "funkhausd.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Stops funkhausd with `signal` and reaps it; returns the wait status.
  int stop(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  // Waits up to `timeout` for funkhausd to exit on its own; its wait status, or nullopt.
  std::optional<int> waitExit(std::chrono::milliseconds timeout) {
    int status = 0;
    const bool exited = waitFor(timeout, [&] { return waitpid(pid_, &status, WNOHANG) == pid_; });
    if (!exited) return std::nullopt;
    pid_ = -1;
    return status;
  }

  // One control request; the reply parsed (or a null json when unreachable).
  json call(const std::string& line) const {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_.c_str());
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return json();
    const std::string request = line + "\n";
    if (write(fd.get(), request.data(), request.size()) < 0) return json();
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd.get(), buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
    return json::parse(reply, nullptr, false);
  }

  json status() const { return call(R"({"cmd":"status"})"); }

  json worker(const std::string& name) const {
    json s = status();
    if (!s.is_object() || !s.contains("sessions") || s["sessions"].empty()) return json();
    for (const auto& w : s["sessions"][0]["workers"])
      if (w["name"] == name) return w;
    return json();
  }

  // Waits until every worker is running; returns false after `timeout`.
  bool waitAllRunning(std::chrono::milliseconds timeout = 10s) const {
    return waitFor(timeout, [&] {
      json s = status();
      if (!s.is_object() || s["sessions"].empty()) return false;
      for (const auto& w : s["sessions"][0]["workers"])
        if (w["state"] != "running") return false;
      return true;
    });
  }

  template <class Pred>
  static bool waitFor(std::chrono::milliseconds timeout, Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return pred();
  }

 private:
  static inline int counter_ = 0;
  bool pipeline_ = false;
  bool own_gamestream_ = false;
  bool own_console_ = false;
  std::vector<std::string> workers_;
  fs::path dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

}  // namespace funkhaus::test
