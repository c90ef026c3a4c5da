// RtpSink: the pipeline benchmark's viewer — a UDP port pair on 127.0.0.1 that reads RTP and
// RTCP without decoding and notes, per access unit, the kernel's stamp of its last packet.
// Created on the bench's main thread; reads on its own thread between start() and stop().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::bench {

// The fixed header of an RTP packet (RFC 3550 5.1), checked against the datagram's size.
struct RtpHeader {
  bool marker = false;
  uint8_t payload_type = 0;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  size_t payload_offset = 0;  // after the CSRC list and the header extension
  size_t payload_size = 0;    // without padding
};

// Parses the header of one RTP datagram. The error names what is wrong.
Result<RtpHeader> parseRtpHeader(std::span<const uint8_t> datagram);

// What a sender report says: the same instant on the sender's wall clock and RTP clock.
struct SenderReportFields {
  uint32_t ssrc = 0;
  uint64_t ntp_time = 0;  // 32.32 fixed point seconds since 1900 (CLOCK_REALTIME)
  uint32_t rtp_time = 0;
};

// The first sender report of a (compound) RTCP datagram; nullopt if it holds none. An error if
// any packet's version or length does not fit the datagram.
Result<std::optional<SenderReportFields>> findSenderReport(std::span<const uint8_t> datagram);

// One access unit as the sink saw it: the packets of one RTP timestamp, ended by the marker.
struct SinkFrame {
  uint32_t rtp_timestamp = 0;
  uint64_t last_packet_ns = 0;  // kernel receive stamp of the marker packet, CLOCK_MONOTONIC
  uint64_t read_ns = 0;         // when the sink's thread read the marker packet
  uint32_t packets = 0;
  uint64_t bytes = 0;     // RTP payload bytes
  bool complete = false;  // sequence numbers without a gap from the first packet to the marker
};

// A sender report and the sink's CLOCK_REALTIME - CLOCK_MONOTONIC when it read it.
struct SinkReport {
  SenderReportFields report;
  int64_t realtime_minus_monotonic_ns = 0;
};

struct SinkCounters {
  uint64_t packets = 0;        // RTP packets of the expected SSRC
  uint64_t bytes = 0;          // their payload bytes
  uint64_t malformed = 0;      // datagrams that are not RTP / RTCP
  uint64_t foreign = 0;        // RTP of another SSRC or payload type (or before one was set)
  uint64_t sequence_gaps = 0;  // places where a sequence number was skipped
  uint64_t unended = 0;        // frames whose marker packet never came (lost)
  uint64_t unstamped = 0;      // packets without a kernel timestamp (read time used)
  uint64_t reports = 0;        // sender reports of the expected SSRC
};

class RtpSink {
 public:
  // Binds RTP on a free even port of 127.0.0.1 and RTCP on the next one, with kernel receive
  // timestamps (SO_TIMESTAMPNS) on the RTP socket.
  static Result<std::unique_ptr<RtpSink>> open();
  ~RtpSink();
  RtpSink(const RtpSink&) = delete;
  RtpSink& operator=(const RtpSink&) = delete;

  uint16_t rtpPort() const { return rtp_port_; }
  uint16_t rtcpPort() const { return rtp_port_ + 1; }

  // Only RTP and sender reports of this SSRC (payload type 96) count; set before the sender
  // starts (packets before are counted as foreign).
  void expectSsrc(uint32_t ssrc);

  // Starts reading on the sink's thread; stop() joins it. Results are read after stop().
  void start();
  void stop();

  // Frames and sender reports seen so far (any thread).
  uint64_t framesSeen() const { return frames_seen_.load(std::memory_order_relaxed); }
  uint64_t reportsSeen() const { return reports_seen_.load(std::memory_order_relaxed); }

  // After stop().
  const std::vector<SinkFrame>& frames() const;
  const std::vector<SinkReport>& reports() const;
  const SinkCounters& counters() const;

 private:
  RtpSink(UniqueFd rtp, UniqueFd rtcp, uint16_t rtp_port)
      : rtp_(std::move(rtp)), rtcp_(std::move(rtcp)), rtp_port_(rtp_port) {}
  void run();
  void readRtp();
  void readRtcp();
  void onPacket(std::span<const uint8_t> datagram, uint64_t stamp_ns, uint64_t read_ns);
  void checkStopped() const;

  UniqueFd rtp_, rtcp_;
  uint16_t rtp_port_ = 0;
  std::atomic<uint32_t> ssrc_{0};
  std::atomic<bool> ssrc_set_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> frames_seen_{0}, reports_seen_{0};
  std::thread thread_;

  // Touched by the sink's thread only while it runs.
  std::vector<uint8_t> buffer_;
  std::optional<SinkFrame> current_;
  uint16_t current_first_sequence_ = 0;
  bool current_gap_ = false;
  std::optional<uint16_t> next_sequence_;
  std::vector<SinkFrame> frames_;
  std::vector<SinkReport> reports_;
  SinkCounters counters_;
};

// CLOCK_REALTIME - CLOCK_MONOTONIC now (two back-to-back readings).
int64_t realtimeMinusMonotonicNs();

}  // namespace funkhaus::bench
