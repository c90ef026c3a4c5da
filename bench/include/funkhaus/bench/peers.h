// Peers mode of the pipeline benchmark (issue 15): funkhaus, GStreamer and ffmpeg capturing the
// same X display and sending RTP H.264 to the same receiver. The depacketizer, the receiver and
// the matching of decoded barcodes to draw times. Bench main thread (the receiver reads on its
// own thread between start() and stop()).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/bench/rtp_sink.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::bench {

// One access unit reassembled from RTP (RFC 6184), as Annex B (00 00 00 01 before each NAL).
struct AccessUnit {
  uint32_t rtp_timestamp = 0;
  uint64_t last_packet_ns = 0;  // kernel receive stamp of the marker packet, CLOCK_MONOTONIC
  uint32_t packets = 0;
  std::vector<uint8_t> annexb;
};

struct DepacketizerCounters {
  uint64_t packets = 0;
  uint64_t frames = 0;          // complete access units handed out
  uint64_t dropped_frames = 0;  // units with a lost packet, a broken fragment or a bad payload
  uint64_t sequence_gaps = 0;
  uint64_t bad_payloads = 0;  // NAL type 0/30/31, STAP-B, MTAP, FU-B, truncated STAP/FU
};

// Single NAL unit packets, STAP-A and FU-A of one RTP stream (one SSRC) -> access units, one
// per RTP timestamp, ended by the marker bit. A unit with any loss (a sequence gap inside it or
// right before it, a marker that never came, an FU without its start or end) is dropped whole:
// the receiver never decodes a unit it knows is damaged.
class H264Depacketizer {
 public:
  // Larger units are dropped (bounds memory against a hostile sender).
  static constexpr size_t kMaxUnitBytes = 16u << 20;

  // One RTP packet: its parsed header and the datagram's payload (header.payload_offset /
  // payload_size into `datagram`). A complete access unit when this packet ended one.
  std::optional<AccessUnit> push(const RtpHeader& header, std::span<const uint8_t> datagram,
                                 uint64_t stamp_ns);
  const DepacketizerCounters& counters() const { return counters_; }

 private:
  void appendNal(uint8_t header, std::span<const uint8_t> rest);
  bool appendPayload(std::span<const uint8_t> payload);
  void dropCurrent();

  DepacketizerCounters counters_;
  std::optional<uint16_t> next_sequence_;
  bool in_unit_ = false;
  bool broken_ = false;
  bool in_fragment_ = false;
  AccessUnit current_;
};

// What the receiver made of one access unit after decoding it.
struct DecodedUnit {
  uint64_t last_packet_ns = 0;
  enum class Status { kRead, kUndecodable, kUnreadable } status = Status::kUndecodable;
  uint64_t frame_number = 0;  // the barcode's, for kRead
};

// Draw times of the X client, indexed by frame number (0: that frame was not drawn).
struct MatchResult {
  std::vector<uint64_t> latencies_ns;  // draw -> last packet, first showing of each content
  size_t repeats = 0;      // showed content no newer than an earlier unit's (not counted)
  size_t undecodable = 0;  // in the window: the decoder refused the unit or gave no picture
  size_t unreadable = 0;   // decoded, but no barcode could be read
  size_t unknown = 0;      // a barcode whose frame number was never drawn
  size_t before_draw = 0;  // last packet stamped before the draw (clocks broken)
};

// Pairs decoded units (in arrival order) with the draw times. A unit counts when its barcode
// names a frame drawn in [from_ns, to_ns) and it is the first unit to show that frame or any
// newer one. Units without a barcode count as undecodable/unreadable when their last packet
// arrived in [from_ns, to_ns).
MatchResult matchUnits(std::span<const DecodedUnit> units, std::span<const uint64_t> draw_ns,
                       uint64_t from_ns, uint64_t to_ns);

// Decodes the access units in order with libavcodec's H.264 decoder and reads each picture's
// barcode.
Result<std::vector<DecodedUnit>> decodeUnits(std::span<const AccessUnit> units);

// The receiver: a UDP port pair on 127.0.0.1 (RTP with SO_TIMESTAMPNS; RTCP read and dropped),
// locked on the first SSRC with payload type 96 (or the one set), keeping every access unit.
class PeerReceiver {
 public:
  static Result<std::unique_ptr<PeerReceiver>> open();
  ~PeerReceiver();
  PeerReceiver(const PeerReceiver&) = delete;
  PeerReceiver& operator=(const PeerReceiver&) = delete;

  uint16_t rtpPort() const { return rtp_port_; }
  uint16_t rtcpPort() const { return static_cast<uint16_t>(rtp_port_ + 1); }
  void expectSsrc(uint32_t ssrc);

  void start();
  void stop();
  uint64_t unitsSeen() const { return units_seen_.load(std::memory_order_relaxed); }

  // After stop().
  const std::vector<AccessUnit>& units() const { return units_; }
  const DepacketizerCounters& counters() const { return depacketizer_.counters(); }
  uint64_t foreign() const { return foreign_; }
  uint64_t malformed() const { return malformed_; }

 private:
  PeerReceiver(UniqueFd rtp, UniqueFd rtcp, uint16_t port)
      : rtp_(std::move(rtp)), rtcp_(std::move(rtcp)), rtp_port_(port) {}
  void run();
  void readRtp();

  UniqueFd rtp_, rtcp_;
  uint16_t rtp_port_ = 0;
  std::atomic<uint32_t> ssrc_{0};
  std::atomic<bool> ssrc_set_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> units_seen_{0};
  std::thread thread_;
  std::vector<uint8_t> buffer_;
  H264Depacketizer depacketizer_;
  std::vector<AccessUnit> units_;
  uint64_t foreign_ = 0, malformed_ = 0;
};

// The whole --peers run; returns the process exit code (0 all ran, 1 a tool could not run).
struct PeersOptions {
  uint32_t width = 1920, height = 1080, fps = 60;
  uint32_t bitrate_kbps = 8000;
  uint32_t seconds = 20, rounds = 4, warmup = 3;
  bool verbose = false;
};
int runPeers(const PeersOptions& options);

}  // namespace funkhaus::bench
