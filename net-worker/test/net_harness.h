// Test harness that plays funkhausd for funkhaus-net: owns the listening RTSP socket, the UDP
// RTP/RTCP pair, the net state page and the packet ring, runs the real binary through the one
// FakeSupervisor (tests/support), keeps the connections it deposits and hands them to the next
// one. Also a libx264 source that feeds the packet ring. Used by the client tests (test process).
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

#include "funkhaus/abi/gamestream_state.h"
#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/rtsp_state.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/test/fake_supervisor.h"

namespace funkhaus::test {

// What a harness serves beside RTSP.
struct NetHarnessConfig {
  uint64_t ring_capacity = 8u << 20;
  bool every_address = false;
  // The GameStream blob and its endpoints (RTSP TCP, video/control/audio UDP on consecutive
  // loopback ports), as funkhausd with [gamestream] enabled hands them.
  bool gamestream = false;
  // An audio ring (RingId::kAudioPackets), as when the session has an audio worker.
  bool audio = false;
};

class NetHarness {
 public:
  // Sockets (on loopback, or on every address of the network namespace), page and ring;
  // nothing runs yet.
  static Result<std::unique_ptr<NetHarness>> create(uint64_t ring_capacity = 8u << 20,
                                                    bool every_address = false);
  static Result<std::unique_ptr<NetHarness>> create(const NetHarnessConfig& config);
  ~NetHarness();

  // Starts funkhaus-net with `args` and hands it every fd (and every kept connection); returns
  // once it said ready. From then on its messages are handled as they come.
  // `environment`: changes as FakeSupervisor takes them ("NAME=value").
  Result<void> start(const std::vector<std::string>& args = {}, int timeout_ms = 10000,
                     const std::vector<std::string>& environment = {});
  // SIGKILLs the running net and reaps it.
  void kill9();
  // Sends the stop command; the exit status, or nullopt on timeout.
  std::optional<ExitStatus> stop(int timeout_ms = 5000);
  // Waits for the net to exit on its own; its exit status, or nullopt on timeout.
  std::optional<ExitStatus> waitExit(int timeout_ms);
  pid_t pid() const { return net_ ? net_->pid() : -1; }
  ChildProcess& process() { return net_->process(); }

  uint16_t rtspPort() const { return rtsp_port_; }
  uint16_t rtpPort() const { return rtp_port_; }
  std::string url(const std::string& path = "/live", const std::string& host = "127.0.0.1") const;
  int ringFd() const { return ring_->handle(); }
  // The audio ring (-1 without one).
  int audioRingFd() const { return audio_ring_ ? audio_ring_->handle() : -1; }
  // GameStream's ports (0 without GameStream): RTSP (TCP) and video; control and audio follow
  // video by 1 and 2.
  uint16_t gamestreamRtspPort() const { return gs_rtsp_port_; }
  uint16_t gamestreamVideoPort() const { return gs_video_port_; }
  uint16_t gamestreamAudioPort() const { return gs_video_port_ ? gs_video_port_ + 2 : 0; }
  // The GameStream blob (only with GameStream).
  abi::GamestreamState& gamestream() const {
    return *static_cast<abi::GamestreamState*>(abi::findNetBlob(
        *reinterpret_cast<abi::NetStatePage*>(page_->data()), abi::NetProtocol::kGamestream));
  }
  // Publishes a launch as funkhausd does after /launch (seqlock; the next even sequence).
  void publishLaunch(const abi::GamestreamLaunch& launch);
  // The args of every kAudioRequest the net sent, in order.
  std::vector<uint64_t> audioRequests();
  // The arg of the last kAudioRequest, none before net sent one.
  std::optional<uint64_t> lastAudioRequest();
  // The RTSP blob of the net state page (viewer slots, parameter sets).
  abi::RtspState& page() const {
    return *static_cast<abi::RtspState*>(abi::findNetBlob(
        *reinterpret_cast<abi::NetStatePage*>(page_->data()), abi::NetProtocol::kRtsp));
  }
  // The status page of the net started last.
  abi::WorkerStatusPage& status() const { return net_->status(); }

  std::function<void()> on_keyframe_request;  // set before start()
  std::atomic<uint64_t> keyframe_requests{0};
  std::atomic<uint64_t> deposits{0};
  std::atomic<uint64_t> releases{0};
  size_t keptSockets();
  // Lines the net started last wrote so far.
  std::vector<std::string> logLines() const;
  // Waits until a log line contains `text`.
  bool waitForLog(const std::string& text, int timeout_ms) const;

 private:
  NetHarness() = default;
  void onMessage(const Message& message);

  UniqueFd listen_, rtp_, rtcp_;
  uint16_t rtsp_port_ = 0, rtp_port_ = 0;
  UniqueFd gs_listen_, gs_video_, gs_control_, gs_audio_;
  uint16_t gs_rtsp_port_ = 0, gs_video_port_ = 0;
  std::optional<SharedMemory> page_, ring_, audio_ring_;
  std::vector<uint64_t> audio_requests_;
  std::optional<FakeSupervisor> net_;
  std::mutex mutex_;
  std::map<uint32_t, UniqueFd> kept_;  // deposited connections by slot (the listener adds)
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
