// LossProxy: gamestream_probe's lossy forwarder for loss tests. The client talks to
// listen_address (e.g. 127.0.0.2) on the host's own ports; the proxy forwards TCP (RTSP) and UDP
// (video, control, audio) to target_address and drops a share of the host's video datagrams at
// random. Owned by the probe's main thread; forwards on a thread of its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::probe {

struct ProxyConfig {
  std::string listen_address;  // IPv4, where the client connects
  std::string target_address;  // IPv4 or name, the host
  std::vector<uint16_t> tcp_ports;
  std::vector<uint16_t> udp_ports;
  uint16_t video_port = 0;          // host -> client datagrams on this UDP port may be dropped
  double drop_video_percent = 0.0;  // 0..100
};

struct ProxyCounters {
  uint64_t tcp_connections = 0;
  uint64_t tcp_connect_failures = 0;  // the host refused: the client's connection was closed
  uint64_t udp_to_host = 0;
  uint64_t udp_to_client = 0;  // all ports, after drops
  uint64_t video_to_client = 0;
  uint64_t video_dropped = 0;
  // The frameIndex of every dropped video datagram, in drop order (gamestream.md §6.1 offset 20,
  // or offset 12 of the plaintext prefix of an encrypted datagram, §6.7).
  std::vector<uint32_t> dropped_video_frames;
  uint64_t dropped_encrypted = 0;  // of video_dropped: with the encryption prefix (IV byte 11 'V')
  uint64_t dropped_unparsed = 0;   // of video_dropped: too short to hold a frame index
  // server_port= values in the host's RTSP replies that the proxy does not forward.
  std::vector<uint16_t> unforwarded_server_ports;
};

class LossProxy {
 public:
  static Result<std::unique_ptr<LossProxy>> start(const ProxyConfig& config);
  ~LossProxy();  // stops forwarding, closes every socket
  LossProxy(const LossProxy&) = delete;
  LossProxy& operator=(const LossProxy&) = delete;

  ProxyCounters counters() const;

 private:
  struct Fd;
  struct UdpPort;
  struct TcpListener;
  struct TcpPipe;

  LossProxy() = default;
  void run();
  // Records one dropped video datagram in counters_ (mutex_ held).
  void recordDrop(std::span<const uint8_t> datagram);

  ProxyConfig config_;
  std::vector<std::unique_ptr<UdpPort>> udp_;
  std::vector<std::unique_ptr<TcpListener>> listeners_;
  std::vector<std::unique_ptr<TcpPipe>> pipes_;  // forwarding thread only
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  ProxyCounters counters_;
};

}  // namespace funkhaus::probe
