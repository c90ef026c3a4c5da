// The RTSP/RTP server of funkhaus-net on a Boost.Asio loop: RTSP connections on the listening
// socket funkhausd keeps, RTP/RTCP over the shared UDP pair or interleaved, viewer state in the
// net state page. Everything runs on the one thread that runs the io_context.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/net/net_state.h"

namespace funkhaus::net {

struct ServerOptions {
  std::string path = "/live";                   // the stream's path; others get 404
  uint32_t max_viewers = abi::kMaxConnections;  // sessions at once; beyond: 453
  uint32_t mtu = 1400;                          // RTP payload budget
  uint32_t session_timeout_s = 60;              // reap viewers without RTSP/RTCP activity
  uint32_t header_timeout_ms = 5000;            // a request must complete this soon (slowloris)
  uint32_t max_connections = 32;                // RTSP connections without a session
  uint32_t describe_wait_ms = 3000;             // DESCRIBE waits this long for parameter sets
  uint32_t keyframe_interval_ms = 200;          // at most one keyframe request this often
};

// One access unit as read from the packet ring (a private copy).
struct AccessUnit {
  uint64_t frame_number = 0;
  uint64_t capture_time_ns = 0;  // CLOCK_MONOTONIC
  uint32_t flags = 0;            // abi::kRecordFlag*
  uint32_t codec = 0;            // 1 H.264, 2 HEVC
  std::vector<uint8_t> data;     // Annex B
};

struct ServerCounters {
  uint64_t frames_out = 0;           // access units sent whole to at least one viewer
  uint64_t bytes_out = 0;            // RTP, RTCP and RTSP bytes handed to the kernel
  uint64_t drops = 0;                // (viewer, access unit) pairs dropped for slow viewers
  uint64_t errors = 0;               // bad records, refused RTCP, broken connections
  uint64_t keyframes_received = 0;   // PLI/FIR from viewers
  uint64_t keyframes_requested = 0;  // keyframe requests sent to funkhausd
  uint64_t connections = 0;          // RTSP connections accepted
};

// What the server needs from funkhausd. The worker wires these to its WorkerChannel.
struct SupervisorLink {
  std::function<void(uint32_t slot, int fd)> deposit;  // keep a duplicate of a viewer socket
  std::function<void(uint32_t slot)> release;          // the viewer of `slot` is gone
  std::function<void()> requestKeyframe;               // ask the encoder for an IDR
  // A viewer asked for a display mode (DESCRIBE of path?mode=WxH[@HZ]); refresh 0 = any.
  std::function<void(uint32_t width, uint32_t height, uint32_t refresh_hz)> requestMode;
};

struct ServerSockets {
  UniqueFd listen;                                     // bound and listening TCP socket
  UniqueFd rtp;                                        // bound UDP socket, even port
  UniqueFd rtcp;                                       // bound UDP socket, port + 1
  std::vector<std::pair<uint32_t, UniqueFd>> viewers;  // kept viewer connections by slot
};

class NetServer {
 public:
  // Adopts the sockets and every viewer a previous net left in `state` (validated; what does
  // not check out is dropped and released). Starts accepting at once.
  static Result<std::unique_ptr<NetServer>> create(boost::asio::io_context& io, NetState& state,
                                                   ServerSockets sockets, ServerOptions options,
                                                   SupervisorLink link);
  ~NetServer();

  // Serves one access unit to every playing viewer. Returns the CLOCK_MONOTONIC time the
  // last packet went to the kernel, or 0 if no viewer got the whole unit.
  uint64_t onAccessUnit(const AccessUnit& unit);

  const ServerCounters& counters() const;
  uint32_t playingViewers() const;
  // rtsp://HOST:PORT/PATH of the listening socket.
  std::string url() const;

  struct Impl;

 private:
  explicit NetServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace funkhaus::net
