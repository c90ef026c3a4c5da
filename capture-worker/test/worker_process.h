// CaptureWorkerProcess: the real funkhaus-capture binary started as funkhausd starts it (a
// SOCK_SEQPACKET channel at fd 3), with the test playing funkhausd's side of the channel.
// Used by the capture multi-process tests.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/channel.h"
#include "funkhaus/common/shared_memory.h"

extern char** environ;

namespace funkhaus::capture::test {

// A status page as funkhausd makes one.
inline SharedMemory makeStatusPage() {
  auto page = SharedMemory::create("funkhaus-status-capture", sizeof(abi::WorkerStatusPage));
  if (!page) std::abort();
  auto* s = reinterpret_cast<abi::WorkerStatusPage*>(page->data());
  s->magic = abi::kStatusPageMagic;
  s->abi_version = abi::kAbiVersion;
  s->header_size = sizeof(abi::WorkerStatusPage);
  s->kind = static_cast<uint32_t>(abi::WorkerKind::kCapture);
  return std::move(*page);
}

class CaptureWorkerProcess {
 public:
  // Starts funkhaus-capture with `args`; `env` entries ("NAME=value" or "NAME" to unset) change
  // the inherited environment. Its stderr goes to a file the test can read.
  explicit CaptureWorkerProcess(const std::vector<std::string>& args,
                                const std::vector<std::string>& env = {}) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) std::abort();
    channel_ = UniqueFd(pair[0]);
    UniqueFd child(pair[1]);
    log_ = "/tmp/funkhaus-capture-test-" + std::to_string(getpid()) + "-" +
           std::to_string(counter_++) + ".log";
    std::vector<std::string> all = {FUNKHAUS_CAPTURE_BIN};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const std::string name = entry.substr(0, entry.find('='));
      bool replaced = false;
      for (const auto& change : env)
        if (change.substr(0, change.find('=')) == name) replaced = true;
      if (!replaced) envs.push_back(entry);
    }
    for (const auto& change : env)
      if (change.find('=') != std::string::npos) envs.push_back(change);
    std::vector<char*> envp;
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child.get(), 3);
    posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, FUNKHAUS_CAPTURE_BIN, &actions, nullptr, argv.data(), envp.data()) != 0)
      std::abort();
    posix_spawn_file_actions_destroy(&actions);
  }

  CaptureWorkerProcess(const CaptureWorkerProcess&) = delete;
  CaptureWorkerProcess& operator=(const CaptureWorkerProcess&) = delete;
  ~CaptureWorkerProcess() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    unlink(log_.c_str());
  }

  pid_t pid() const { return pid_; }

  // The next message from the worker within timeout_ms, or nullopt.
  std::optional<Message> receive(int timeout_ms) {
    pollfd p{channel_.get(), POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    auto m = receiveMessage(channel_.get());
    if (!m || !m->has_value()) return std::nullopt;
    return std::move(**m);
  }

  // funkhausd's part of the hand-over: wait for hello, send the status page and (if valid) the
  // frame ring as kFrameRingOut in one last ring-fds message.
  bool handOver(int status_fd, int ring_fd) {
    auto hello = receive(5000);
    if (!hello || !std::holds_alternative<HelloMessage>(*hello)) return false;
    const auto& body = std::get<HelloMessage>(*hello).body;
    if (body.kind != static_cast<uint32_t>(abi::WorkerKind::kCapture) ||
        body.abi_version != abi::kAbiVersion)
      return false;
    RingFdsMessage fds;
    fds.roles = {abi::FdRole::kStatusPage};
    fds.tags = {0};
    fds.fds.emplace_back(dup(status_fd));
    if (ring_fd >= 0) {
      fds.roles.push_back(abi::FdRole::kRingOut);
      fds.tags.push_back(static_cast<uint32_t>(abi::RingId::kFrames));
      fds.fds.emplace_back(dup(ring_fd));
    }
    fds.last = true;
    return sendMessage(channel_.get(), Message(std::move(fds))).ok();
  }

  // Waits for the ready message (skipping events).
  bool waitReady(int timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = receive(100);
      if (m && std::holds_alternative<ReadyMessage>(*m)) return true;
      if (!m && exited()) return false;
    }
    return false;
  }

  bool command(abi::Command c, uint64_t arg = 0) {
    return sendMessage(channel_.get(), CommandMessage{{static_cast<uint32_t>(c), 0, arg}}).ok();
  }

  void kill(int signal) { ::kill(pid_, signal); }

  bool exited() {
    if (reaped_) return true;
    if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    return reaped_;
  }

  // The raw wait status after the worker ended, or nullopt if it is still running after
  // timeout_ms.
  std::optional<int> waitExit(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!exited()) {
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
  }

  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  static inline int counter_ = 0;
  pid_t pid_ = -1;
  UniqueFd channel_;
  std::string log_;
  bool reaped_ = false;
  int status_ = 0;
};

}  // namespace funkhaus::capture::test
