// Peers mode: the X display the tools capture (a private Xvfb and the X client that draws the
// moving content and the barcode at each deadline), and the three tools under test (funkhausd,
// gst-launch-1.0, ffmpeg) started against one receiver. Bench main thread; the drawer draws on
// its own thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/bench/peers.h"
#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"

namespace funkhaus::bench {

// Xvfb with one width x height x 24 screen on a display number it picks (-displayfd),
// -nolisten tcp; stopped (SIGTERM, then SIGKILL) when destroyed.
class XvfbDisplay {
 public:
  static Result<std::unique_ptr<XvfbDisplay>> start(uint32_t width, uint32_t height);
  const std::string& display() const { return display_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  ~XvfbDisplay();

 private:
  XvfbDisplay() = default;
  std::string display_;
  std::optional<ChildProcess> process_;
};

// The X client: at each deadline of a (fps - 1) Hz grid (see run()) draws frame n — a panel whose
// texture pans, a square that moves along the bottom, and the barcode of frame n in the top-left
// corner — then waits for the server to have done it (a round trip) and notes CLOCK_MONOTONIC: the
// frame's draw time.
class ContentDrawer {
 public:
  static Result<std::unique_ptr<ContentDrawer>> start(const std::string& display, uint32_t width,
                                                      uint32_t height, uint32_t fps);
  ~ContentDrawer();
  // Draw times indexed by frame number (0: not drawn).
  std::vector<uint64_t> drawTimes() const;
  uint64_t frames() const { return frames_.load(std::memory_order_relaxed); }
  uint64_t missed() const { return missed_.load(std::memory_order_relaxed); }
  // CPU time of the drawing thread so far.
  std::optional<uint64_t> cpuNs() const;

 private:
  struct X;
  ContentDrawer() = default;
  void run();

  std::unique_ptr<X> x_;
  uint32_t fps_ = 60;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> frames_{0}, missed_{0};
  mutable std::mutex mutex_;
  std::vector<uint64_t> draw_ns_;
  std::thread thread_;
};

struct PeerSettings {
  uint32_t width = 1920, height = 1080, fps = 60, bitrate_kbps = 8000;
  std::string display;              // ":N"
  std::filesystem::path bin_dir;    // funkhausd and the workers
  std::filesystem::path work_root;  // per-run directories (configs, logs)
};

// One tool under test: started with its stream going to the receiver, stopped after.
class PeerTool {
 public:
  virtual ~PeerTool() = default;
  virtual const char* name() const = 0;
  // Empty when the tool can run here; otherwise why not (missing binary or element).
  virtual std::string unavailable() const = 0;
  virtual Result<void> start(PeerReceiver& receiver) = 0;
  // CPU used so far by all of the tool's processes (nullopt: one of them is gone).
  virtual std::optional<uint64_t> cpuNs() const = 0;
  virtual Result<void> keepAlive() { return {}; }
  virtual Result<void> stop() = 0;
};

std::unique_ptr<PeerTool> makeFunkhausTool(const PeerSettings& settings);
std::unique_ptr<PeerTool> makeGstreamerTool(const PeerSettings& settings);
std::unique_ptr<PeerTool> makeFfmpegTool(const PeerSettings& settings);

// The tools' command lines (the encoder settings in one place, for the README and the output).
std::vector<std::string> gstreamerArgs(const PeerSettings& settings, uint16_t port);
std::vector<std::string> ffmpegArgs(const PeerSettings& settings, uint16_t port);

}  // namespace funkhaus::bench
