// Viewer: ffmpeg or gst-launch-1.0 started through ChildProcess with stdout on a pipe, and a reader
// thread.
#include "viewer.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <iterator>

#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/child_process.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/percentile.h"

namespace funkhaus::test {

namespace {

std::vector<std::string> commandFor(Viewer::Kind kind, const std::string& url) {
  switch (kind) {
    case Viewer::Kind::kFfmpegUdp:
    case Viewer::Kind::kFfmpegTcp:
      // The flags that keep ffmpeg from buffering (honest latency).
      return {"ffmpeg",
              "-hide_banner",
              "-loglevel",
              "warning",
              "-fflags",
              "nobuffer",
              "-flags",
              "low_delay",
              "-rtsp_transport",
              kind == Viewer::Kind::kFfmpegUdp ? "udp" : "tcp",
              "-i",
              url,
              "-fps_mode",
              "passthrough",
              "-an",
              "-f",
              "rawvideo",
              "-pix_fmt",
              "gray",
              "pipe:1"};
    case Viewer::Kind::kGstreamerUdp:
    case Viewer::Kind::kGstreamerTcp:
      return {"gst-launch-1.0",
              "-q",
              "rtspsrc",
              "location=" + url,
              "latency=0",
              std::string("protocols=") + (kind == Viewer::Kind::kGstreamerUdp ? "udp" : "tcp"),
              "!",
              "rtph264depay",
              "request-keyframe=true",
              "!",
              "avdec_h264",
              "!",
              "videoconvert",
              "!",
              "video/x-raw,format=GRAY8",
              "!",
              "fdsink",
              "fd=1",
              "sync=false"};
  }
  return {};
}

}  // namespace

bool Viewer::available(Kind kind) {
  const char* tool = kind == Kind::kFfmpegUdp || kind == Kind::kFfmpegTcp
                         ? "command -v ffmpeg > /dev/null"
                         : "command -v gst-launch-1.0 > /dev/null && gst-inspect-1.0 rtspsrc "
                           "> /dev/null 2>&1 && gst-inspect-1.0 avdec_h264 > /dev/null 2>&1";
  return std::system(tool) == 0;
}

const char* Viewer::name() const {
  switch (kind_) {
    case Kind::kFfmpegUdp:
      return "ffmpeg/udp";
    case Kind::kFfmpegTcp:
      return "ffmpeg/tcp";
    case Kind::kGstreamerUdp:
      return "gstreamer/udp";
    case Kind::kGstreamerTcp:
      return "gstreamer/tcp";
  }
  return "?";
}

Viewer::Viewer(Kind kind, const std::string& url, uint32_t width, uint32_t height,
               const std::string& log_path, bool keep_last_frame)
    : kind_(kind),
      width_(width),
      height_(height),
      log_path_(log_path),
      keep_last_frame_(keep_last_frame) {
  const auto args = commandFor(kind, url);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) std::abort();
  UniqueFd read_end(out[0]), write_end(out[1]);
  UniqueFd log(open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!log.valid()) std::abort();
  ChildSpec spec;
  spec.program = args.front();
  spec.args.assign(args.begin() + 1, args.end());
  spec.stdout_fd = write_end.get();
  spec.stderr_fd = log.get();
  spec.drop_privileges = false;            // a test's viewer runs as the test does
  auto child = ChildProcess::spawn(spec);  // a crashed test takes its viewers with it
  if (!child) std::abort();
  process_.emplace(std::move(*child));
  reader_ = std::thread([this, fd = read_end.release()] { readLoop(fd); });
}

Viewer::~Viewer() {
  stop_ = true;
  if (process_) {
    if (process_->running()) kill(-process_->pid(), SIGKILL);  // its process group
    process_.reset();                                          // SIGKILL and reaped
  }
  if (reader_.joinable()) reader_.join();
}

pid_t Viewer::pid() const { return process_ ? process_->pid() : -1; }

bool Viewer::running() { return process_ && !process_->poll(); }

void Viewer::readLoop(int fd) {
  // GStreamer pads GRAY8 rows to 4 bytes; widths here are multiples of 4, so rows are packed.
  const size_t frame_bytes = size_t{width_} * height_;
  std::vector<uint8_t> frame(frame_bytes);
  size_t filled = 0;
  while (!stop_) {
    const ssize_t n = read(fd, frame.data() + filled, frame_bytes - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    filled += static_cast<size_t>(n);
    if (filled < frame_bytes) continue;
    filled = 0;
    DecodedFrame f;
    f.arrival_ns = monotonicNs();
    auto code = capture::readBarcode(frame.data(), width_, width_, height_);
    if (code) {
      f.readable = true;
      f.frame_number = code->frame_number;
      f.capture_ns = code->capture_ns;
    }
    std::lock_guard lock(mutex_);
    frames_.push_back(f);
    if (keep_last_frame_) last_frame_ = frame;
  }
  close(fd);
}

std::vector<DecodedFrame> Viewer::frames() const {
  std::lock_guard lock(mutex_);
  return frames_;
}

size_t Viewer::frameCount() const {
  std::lock_guard lock(mutex_);
  return frames_.size();
}

std::vector<DecodedFrame> Viewer::framesSince(uint64_t since_ns) const {
  std::lock_guard lock(mutex_);
  std::vector<DecodedFrame> out;
  for (const auto& f : frames_)
    if (f.arrival_ns >= since_ns) out.push_back(f);
  return out;
}

bool Viewer::waitFrames(size_t count, int timeout_ms) const {
  const size_t target = frameCount() + count;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (frameCount() >= target) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return frameCount() >= target;
}

std::vector<uint8_t> Viewer::lastFrame() const {
  std::lock_guard lock(mutex_);
  return last_frame_;
}

std::string Viewer::log() const {
  std::ifstream in(log_path_);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

LatencyFigures latencyOf(const std::vector<DecodedFrame>& frames) {
  std::vector<double> ms;
  for (const auto& f : frames)
    if (f.readable && f.arrival_ns >= f.capture_ns)
      ms.push_back(static_cast<double>(f.arrival_ns - f.capture_ns) / 1e6);
  LatencyFigures out;
  out.samples = ms.size();
  if (ms.empty()) return out;
  std::sort(ms.begin(), ms.end());
  out.p50_ms = percentileOfSorted(std::span<const double>(ms), 0.50);
  out.p99_ms = percentileOfSorted(std::span<const double>(ms), 0.99);
  return out;
}

Continuity continuityOf(const std::vector<DecodedFrame>& frames) {
  Continuity c;
  bool have_previous = false;
  uint64_t previous = 0;
  for (const auto& f : frames) {
    if (!f.readable) {
      ++c.unreadable;
      continue;
    }
    ++c.readable;
    if (have_previous) {
      if (f.frame_number == previous) {
        ++c.repeats;
      } else if (f.frame_number < previous) {
        ++c.decreases;
      } else if (f.frame_number > previous + 1) {
        ++c.gaps;
        c.frames_missing += f.frame_number - previous - 1;
      }
    }
    previous = f.frame_number;
    have_previous = true;
  }
  return c;
}

}  // namespace funkhaus::test
