// Helpers for the vdisplay multi-process tests: the real funkhaus-vdisplay binary as a child
// process (ChildProcess), X clients nobody here wrote, /proc inspection (Xvfb children, fds,
// memfds) and frame rings the test owns as the host would. Test processes only.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/test/fake_supervisor.h"

namespace funkhaus::vdisplay::test {

using namespace std::chrono_literals;

inline bool haveProgram(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/bin/", "/usr/local/bin/"})
    if (access((std::string(dir) + name).c_str(), X_OK) == 0) return true;
  return false;
}

inline std::string uniquePath(const std::string& stem) {
  static int counter = 0;
  return ::testing::TempDir() + stem + "-" + std::to_string(getpid()) + "-" +
         std::to_string(counter++);
}

// Starts `args` through ChildProcess with extra environment entries; stdout/stderr to `log` (or
// /dev/null), the child dies with us. `keep_fds` become fds 3, 4, ... in order.
inline ChildProcess spawn(const std::vector<std::string>& args,
                          const std::vector<std::string>& env_extra, const std::string& log,
                          const std::vector<int>& keep_fds = {}) {
  ChildSpec spec;
  spec.program = args.at(0);
  spec.args.assign(args.begin() + 1, args.end());
  spec.environment = funkhaus::test::environmentWith(env_extra);
  for (size_t i = 0; i < keep_fds.size(); ++i)
    spec.fds.emplace_back(static_cast<int>(3 + i), keep_fds[i]);
  UniqueFd out;
  if (!log.empty()) {
    out = UniqueFd(open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    spec.stdout_fd = out.get();
  }
  spec.drop_privileges = false;  // the test's own user
  spec.own_process_group = false;
  spec.setup_failure_exit = 127;
  auto child = ChildProcess::spawn(spec);
  if (!child) {
    ADD_FAILURE() << "cannot start " << args.at(0) << ": " << child.error().message;
    std::abort();
  }
  return std::move(*child);
}

// Runs a program to completion (bounded); returns its exit, or nullopt on timeout (killed).
inline std::optional<ExitStatus> runToEnd(const std::vector<std::string>& args,
                                          const std::vector<std::string>& env,
                                          const std::string& log = "",
                                          std::chrono::milliseconds timeout = 20s) {
  ChildProcess child = spawn(args, env, log);
  auto status = child.wait(timeout);
  if (!status) child.stop(0ms);
  return status;
}

// True when `status` is a normal exit with `code`.
inline bool exitedWith(const std::optional<ExitStatus>& status, int code) {
  return status && !status->signaled && status->code == code;
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct ProcStat {
  pid_t pid;
  std::string comm;
  char state;
  pid_t ppid;
};

inline std::optional<ProcStat> procStat(pid_t pid) {
  const std::string text = readFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t open = text.find('('), close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 4 > text.size())
    return std::nullopt;
  ProcStat s;
  s.pid = pid;
  s.comm = text.substr(open + 1, close - open - 1);
  s.state = text[close + 2];
  s.ppid = static_cast<pid_t>(std::atoi(text.c_str() + close + 4));
  return s;
}

// Live (not zombie) Xvfb processes whose parent is `parent`.
inline std::vector<pid_t> xvfbChildren(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    auto s = procStat(pid);
    if (s && s->ppid == parent && s->comm == "Xvfb" && s->state != 'Z') out.push_back(pid);
  }
  closedir(d);
  return out;
}

// Zombie children of `parent` (a driver must reap what it started).
inline int zombieChildren(pid_t parent) {
  int n = 0;
  DIR* d = opendir("/proc");
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    auto s = procStat(pid);
    if (s && s->ppid == parent && s->state == 'Z') ++n;
  }
  closedir(d);
  return n;
}

inline bool processExists(pid_t pid) {
  auto s = procStat(pid);
  return s && s->state != 'Z';
}

struct FdCounts {
  int total = 0;
  int memfds = 0;
};

inline FdCounts fdCounts(pid_t pid) {
  FdCounts c;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return c;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ++c.total;
    char target[256] = {};
    if (readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1) > 0 &&
        std::strncmp(target, "/memfd:", 7) == 0)
      ++c.memfds;
  }
  closedir(d);
  return c;
}

// fd counts that held still over three samples 20 ms apart (sanitizer runtimes open files for
// a moment now and then), or the last sample after 2 s.
inline FdCounts stableFdCounts(pid_t pid) {
  FdCounts last = fdCounts(pid);
  int same = 0;
  for (int i = 0; i < 100 && same < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const FdCounts now = fdCounts(pid);
    same = now.total == last.total && now.memfds == last.memfds ? same + 1 : 0;
    last = now;
  }
  return last;
}

template <class Pred>
bool waitUntil(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// The real funkhaus-vdisplay, standalone on a socket of its own.
class DriverProcess {
 public:
  explicit DriverProcess(std::vector<std::string> extra_args = {}) {
    socket_ = uniquePath("vdisplay") + ".sock";
    log_ = uniquePath("vdisplay") + ".log";
    runtime_ = uniquePath("vdisplay-run");
    mkdir(runtime_.c_str(), 0700);
    std::vector<std::string> args = {FUNKHAUS_VDISPLAY_BIN, "--listen", socket_, "--runtime-dir",
                                     runtime_};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    process_.emplace(spawn(args, {}, log_));
    pid_ = process_->pid();
    ready_ =
        waitUntil(
            [&] {
              UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
              sockaddr_un addr{};
              addr.sun_family = AF_UNIX;
              std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
              return ::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ||
                     !processExists(pid_);
            },
            10s) &&
        processExists(pid_);
  }
  DriverProcess(const DriverProcess&) = delete;
  DriverProcess& operator=(const DriverProcess&) = delete;
  ~DriverProcess() {
    process_.reset();  // SIGKILL and reap if it still runs
    unlink(socket_.c_str());
    unlink(log_.c_str());
    std::error_code ignored;
    std::filesystem::remove_all(runtime_, ignored);
  }

  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  const std::string& runtimeDir() const { return runtime_; }
  std::string log() const { return readFile(log_); }

  // Signals the driver and waits for it; returns how it ended (nullopt: still running after
  // 30 s).
  std::optional<ExitStatus> stop(int signal = SIGTERM) {
    process_->signal(signal);
    return process_->wait(30s);
  }

 private:
  std::optional<ChildProcess> process_;
  pid_t pid_ = -1;
  bool ready_ = false;
  std::string socket_;
  std::string log_;
  std::string runtime_;
};

// A frame ring as the host creates it: BGRA, the mode's (64-byte aligned) geometry.
inline SharedMemory hostRing(uint32_t w, uint32_t h, uint32_t slots = 3) {
  FrameRingConfig config;
  config.name = "test-driver-ring";
  config.slot_count = slots;
  config.mode = *makeGeometry(abi::PixelFormat::kBgra, w, h);
  auto r = createFrameRing(config);
  if (!r) std::abort();
  return std::move(*r);
}

// 0xRRGGBB of a BGRA frame's pixel.
inline uint32_t pixel(const FrameConsumer::Frame& f, uint32_t x, uint32_t y) {
  const auto* p = reinterpret_cast<const uint8_t*>(f.payload.data()) +
                  uint64_t{y} * f.geometry.stride[0] + uint64_t{x} * 4;
  return uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0];
}

// An X window dump (xwd -root), decoded for 24/32-bit TrueColor.
struct XwdImage {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint32_t> rgb;  // 0xRRGGBB, row-major
};

inline std::optional<XwdImage> parseXwd(const std::string& bytes) {
  auto be32 = [&](size_t field) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data()) + field * 4;
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
  };
  if (bytes.size() < 100) return std::nullopt;
  const uint32_t header_size = be32(0), format = be32(2), width = be32(4), height = be32(5),
                 byte_order = be32(7), bpp = be32(11), bytes_per_line = be32(12),
                 red_mask = be32(14), green_mask = be32(15), blue_mask = be32(16),
                 ncolors = be32(19);
  if (format != 2 || bpp != 32 || red_mask != 0xFF0000 || green_mask != 0xFF00 || blue_mask != 0xFF)
    return std::nullopt;
  const size_t data = header_size + size_t{ncolors} * 12;
  if (bytes.size() < data + size_t{bytes_per_line} * height) return std::nullopt;
  XwdImage img;
  img.width = width;
  img.height = height;
  img.rgb.resize(size_t{width} * height);
  for (uint32_t y = 0; y < height; ++y)
    for (uint32_t x = 0; x < width; ++x) {
      const auto* p = reinterpret_cast<const uint8_t*>(bytes.data()) + data +
                      size_t{y} * bytes_per_line + x * 4;
      const uint32_t v =
          byte_order == 0
              ? (uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0])
              : (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]);
      img.rgb[size_t{y} * width + x] = v & 0xFFFFFF;
    }
  return img;
}

}  // namespace funkhaus::vdisplay::test
