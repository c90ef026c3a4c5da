// Test harness that plays funkhausd for funkhaus-net: creates the listening RTSP socket, the UDP
// RTP/RTCP pair, the net state page, the packet ring and the status page, runs the real binary
// with the channel at fd 3, keeps the sockets it deposits and hands them to the next one.
// Also a libx264 source that feeds the packet ring. Used by the client tests (test process).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/rtsp_state.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::test {

class NetHarness {
 public:
  // Sockets, page and rings; nothing runs yet.
  static Result<std::unique_ptr<NetHarness>> create(uint64_t ring_capacity = 8u << 20);
  ~NetHarness();

  // Starts funkhaus-net with `args` and hands it every fd (and every kept viewer socket);
  // returns once it said ready.
  Result<void> start(const std::vector<std::string>& args = {}, int timeout_ms = 10000);
  // SIGKILLs the running net and reaps it.
  void kill9();
  // Sends the stop command; returns the exit status (waitpid status), or -1 on timeout.
  int stop(int timeout_ms = 5000);
  // Waits for the net to exit on its own; returns its waitpid status or -1 on timeout.
  int waitExit(int timeout_ms);
  pid_t pid() const { return pid_; }

  uint16_t rtspPort() const { return rtsp_port_; }
  uint16_t rtpPort() const { return rtp_port_; }
  std::string url(const std::string& path = "/live") const;
  int ringFd() const { return ring_->fd(); }
  // The RTSP blob of the net state page (viewer slots, parameter sets).
  abi::RtspState& page() const {
    return *static_cast<abi::RtspState*>(abi::findNetBlob(
        *reinterpret_cast<abi::NetStatePage*>(page_->data()), abi::NetProtocol::kRtsp));
  }
  abi::WorkerStatusPage& status() const {
    return *reinterpret_cast<abi::WorkerStatusPage*>(status_->data());
  }

  std::function<void()> on_keyframe_request;  // set before start()
  std::atomic<uint64_t> keyframe_requests{0};
  std::atomic<uint64_t> deposits{0};
  std::atomic<uint64_t> releases{0};
  size_t keptSockets();
  // Lines the net wrote to stderr so far (they are echoed to the test's stderr too).
  std::vector<std::string> logLines();
  // Waits until a log line contains `text`.
  bool waitForLog(const std::string& text, int timeout_ms);

 private:
  NetHarness() = default;
  void channelLoop();
  void logLoop(int fd);
  void joinThreads();

  UniqueFd listen_, rtp_, rtcp_;
  uint16_t rtsp_port_ = 0, rtp_port_ = 0;
  std::optional<SharedMemory> page_, ring_, status_;
  UniqueFd channel_;
  pid_t pid_ = -1;
  std::thread channel_thread_, log_thread_;
  std::atomic<bool> stop_threads_{false};
  std::atomic<bool> ready_{false};
  std::mutex mutex_;
  std::map<uint32_t, UniqueFd> kept_;
  std::vector<std::string> log_;
};

// Encodes a moving synthetic pattern with libx264 (or libx265 for codec 2: ultrafast,
// zerolatency, no B-frames, infinite GOP, parameter sets before every IDR) and pushes each
// access unit into a packet ring at `fps`, stamping capture_time_ns at the moment of the push
// (so the net's status-page latency is its own: record commit -> last packet sent). An IDR is
// made only on the first frame and on requestKeyframe(), like funkhaus-encode.
class VideoSource {
 public:
  VideoSource(int ring_fd, int width, int height, int fps, uint32_t codec = 1);
  ~VideoSource();
  Result<void> start();
  void stop();
  void requestKeyframe() { keyframe_.store(true); }
  uint64_t frames() const { return frames_.load(); }
  uint64_t keyframes() const { return keyframes_.load(); }

 private:
  void run();
  int ring_fd_, width_, height_, fps_;
  uint32_t codec_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, keyframe_{true};
  std::atomic<uint64_t> frames_{0}, keyframes_{0};
};

// One encoded access unit from an in-process libx264 (for packetizer figures and unit tests).
std::vector<std::vector<uint8_t>> encodeH264Frames(int width, int height, int count,
                                                   bool first_keyframe = true);

}  // namespace funkhaus::test
