// Viewer: a real third-party RTSP client (ffmpeg or GStreamer) run as a child process that
// decodes the stream to raw 8-bit luma frames on a pipe; a thread reads every frame and the
// barcode funkhaus-capture stamped into it (frame number, capture time). Test processes only.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/common/child_process.h"

namespace funkhaus::test {

struct DecodedFrame {
  uint64_t arrival_ns = 0;  // CLOCK_MONOTONIC when the viewer handed the frame over
  bool readable = false;    // barcode read back intact
  uint64_t frame_number = 0;
  uint64_t capture_ns = 0;
};

class Viewer {
 public:
  enum class Kind { kFfmpegUdp, kFfmpegTcp, kGstreamerUdp, kGstreamerTcp };

  // Starts the client on `url`; frames are width x height (width a multiple of 4).
  // `keep_last_frame`: keep a copy of the newest frame's pixels (lastFrame()).
  Viewer(Kind kind, const std::string& url, uint32_t width, uint32_t height,
         const std::string& log_path, bool keep_last_frame = false);
  ~Viewer();
  Viewer(const Viewer&) = delete;
  Viewer& operator=(const Viewer&) = delete;

  // Whether the client process is still running (it did not exit or crash).
  bool running();
  pid_t pid() const;
  const char* name() const;

  std::vector<DecodedFrame> frames() const;
  size_t frameCount() const;
  // Frames that arrived at or after `since_ns`.
  std::vector<DecodedFrame> framesSince(uint64_t since_ns) const;
  // Waits up to timeout_ms for `count` more frames than now; false on timeout.
  bool waitFrames(size_t count, int timeout_ms) const;
  std::string log() const;
  // The newest decoded frame's luma (empty unless kept).
  std::vector<uint8_t> lastFrame() const;

  static bool available(Kind kind);

 private:
  void readLoop(int fd);

  Kind kind_;
  uint32_t width_, height_;
  std::string log_path_;
  std::optional<ChildProcess> process_;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<DecodedFrame> frames_;
  bool keep_last_frame_ = false;
  std::vector<uint8_t> last_frame_;
};

// Median and 99th percentile of capture -> decoded latency over readable frames, in ms.
struct LatencyFigures {
  double p50_ms = 0, p99_ms = 0;
  size_t samples = 0;
};
LatencyFigures latencyOf(const std::vector<DecodedFrame>& frames);

// Frames whose number is not exactly one above the previous readable frame's: lost frames.
struct Continuity {
  size_t readable = 0, unreadable = 0;
  size_t repeats = 0;           // the same frame number again (encode repeating the last frame)
  size_t decreases = 0;         // a frame number below the previous one: never acceptable
  size_t gaps = 0;              // jumps of more than one frame
  uint64_t frames_missing = 0;  // sum of the jumps' missing frames
};
Continuity continuityOf(const std::vector<DecodedFrame>& frames);

}  // namespace funkhaus::test
