// PulseServer: a private pulseaudio for one test (its own runtime dir, HOME and socket; no
// D-Bus, no modules but the native protocol), started and stopped through ChildProcess; and
// pactl against it. Test thread only.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::audio::test {

class PulseServer {
 public:
  // Starts `pulseaudio --daemonize=no -n` with only module-native-protocol-unix on a socket in
  // a fresh temp dir and waits (up to 10 s) until it accepts connections. nullptr and *why when
  // pulseaudio is missing or does not come up. As root it runs in user mode all the same (it
  // warns "not intended to be run as root" and goes on) because HOME and XDG_RUNTIME_DIR are
  // private; --system is not needed.
  static std::unique_ptr<PulseServer> start(std::string* why) {
    auto server = std::unique_ptr<PulseServer>(new PulseServer());
    char dir[] = "/tmp/funkhaus-audio-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      *why = std::string("mkdtemp: ") + std::strerror(errno);
      return nullptr;
    }
    server->dir_ = dir;
    if (!server->launchHere(why)) return nullptr;
    return server;
  }

  // A fresh temp dir and its address, no server yet (launch() starts one there).
  static std::unique_ptr<PulseServer> reserve(std::string* why) {
    auto server = std::unique_ptr<PulseServer>(new PulseServer());
    char dir[] = "/tmp/funkhaus-audio-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      *why = std::string("mkdtemp: ") + std::strerror(errno);
      return nullptr;
    }
    server->dir_ = dir;
    return server;
  }

  // Starts pulseaudio on this server's address (again, after kill(): a new server, same socket).
  bool launch(std::string* why) {
    if (process_) {
      *why = "pulseaudio is running already";
      return false;
    }
    return launchHere(why);
  }

  ~PulseServer() {
    if (process_) process_->stop(std::chrono::milliseconds(2000));
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // The address for libpulse ("unix:/tmp/.../native").
  std::string address() const { return "unix:" + dir_ + "/native"; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  void kill() {
    if (process_) {
      process_->signal(SIGKILL);
      process_->wait(std::chrono::milliseconds(5000));
      process_.reset();
    }
  }
  std::string log() const {
    std::ifstream in(dir_ + "/pulseaudio.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  const std::string& dir() const { return dir_; }

  // Runs pactl (or paplay, ...) against this server; its stdout, or nullopt when it failed.
  std::optional<std::string> run(const std::string& program, std::vector<std::string> args) {
    const std::string out_path = dir_ + "/tool.out";
    UniqueFd out(open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ChildSpec spec;
    spec.program = program;
    spec.args = std::move(args);
    spec.environment = environment();
    spec.environment->emplace("PULSE_SERVER", address());
    spec.stdout_fd = out.get();
    auto child = ChildProcess::spawn(spec);
    if (!child) return std::nullopt;
    auto status = child->wait(std::chrono::milliseconds(10'000));
    if (!status || status->signaled || status->code != 0) return std::nullopt;
    std::ifstream in(out_path);
    std::stringstream text;
    text << in.rdbuf();
    std::string result = text.str();
    while (!result.empty() && (result.back() == '\n' || result.back() == ' ')) result.pop_back();
    return result;
  }
  std::optional<std::string> pactl(std::vector<std::string> args) {
    return run("pactl", std::move(args));
  }

 private:
  PulseServer() = default;

  std::map<std::string, std::string> environment() const {
    std::map<std::string, std::string> env;
    env["HOME"] = dir_ + "/home";
    env["XDG_RUNTIME_DIR"] = dir_ + "/run";
    env["XDG_CONFIG_HOME"] = dir_ + "/home/.config";
    const char* path = std::getenv("PATH");
    env["PATH"] = path != nullptr ? path : "/usr/bin:/bin";
    return env;
  }

  bool launchHere(std::string* why) {
    std::filesystem::create_directories(dir_ + "/home/.config");
    std::filesystem::create_directories(dir_ + "/run");
    chmod((dir_ + "/run").c_str(), 0700);
    UniqueFd log_fd(
        open((dir_ + "/pulseaudio.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ChildSpec spec;
    spec.program = "pulseaudio";
    spec.args = {"--daemonize=no",
                 "--exit-idle-time=-1",
                 "-n",
                 "--use-pid-file=no",
                 "--log-target=stderr",
                 "--load=module-native-protocol-unix socket=" + dir_ + "/native auth-anonymous=1"};
    spec.environment = environment();
    spec.stdout_fd = log_fd.get();
    auto child = ChildProcess::spawn(spec);
    if (!child) {
      *why = "cannot start pulseaudio: " + child.error().message;
      return false;
    }
    process_.emplace(std::move(*child));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto status = process_->poll()) {
        *why = "pulseaudio exited (" + describeExit(*status) + "): " + log();
        process_.reset();
        return false;
      }
      if (accepts()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *why = "pulseaudio did not open its socket within 10 s: " + log();
    return false;
  }

  bool accepts() const {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = dir_ + "/native";
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }

  std::string dir_;
  std::optional<ChildProcess> process_;
};

}  // namespace funkhaus::audio::test
