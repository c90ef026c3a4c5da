// EncodeStage: the encode worker's frame loop between the frame ring and the packet ring —
// latest frame in, encoded in place, access units out, last frame repeated while none comes
// (RepeatPolicy: full rate while the picture settles, then a keep-alive rate).
// Runs on the encode worker's main thread (tests drive it in-process).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/encode/encoder.h"
#include "funkhaus/encode/repeat_policy.h"

namespace funkhaus::encode {

class EncodeStage {
 public:
  // The stage uses `frames` and `packets` (owned by the caller, outliving the stage). `clock`
  // (outliving the stage; tests pass a FakeClock) drives the repeat policy and the stage's
  // timestamps; nullptr: CLOCK_MONOTONIC, the clock of the capture times in the rings.
  EncodeStage(Encoder encoder, FrameConsumer& frames, PacketProducer& packets,
              RepeatOptions repeats = {}, const Clock* clock = nullptr);
  EncodeStage(const EncodeStage&) = delete;
  EncodeStage& operator=(const EncodeStage&) = delete;
  // Lets go of the encoder and gives every held slot back to the ring.
  ~EncodeStage();

  enum class Turn {
    kEncoded,   // a new frame was encoded
    kRepeated,  // no new frame for a while: the last one was encoded again
    kIdle,      // nothing to do within the wait (or a repeat publication that was not due)
    kError,     // encoding failed (counted, logged); the next frame reopens the encoder
  };

  // One turn: waits at most `max_wait_ns` (less when a repeat is due) for a frame newer than
  // the last one, encodes it and pushes its access units; or, when the last new frame is
  // older than two frame intervals, encodes it again (then once per interval) so the stream
  // keeps its rate while capture restarts. Repeats — these and repeat publications — come at the
  // full rate for RepeatOptions::settle_ns after the last new picture, then at idle_fps.
  Turn step(int64_t max_wait_ns);

  // The next access unit is an IDR with parameter sets: the next turn encodes the kept picture
  // again at once if no new frame is there (not waiting for the next repeat), and repeats go
  // back to the full rate for the settle time (a new viewer's start).
  void requestKeyframe();
  // Bits per second, from the next frame on.
  Result<void> setBitrate(uint64_t bitrate) { return encoder_->setBitrate(bitrate); }

  struct Counters {
    uint64_t frames_in = 0;        // frames taken from the frame ring
    uint64_t frames_out = 0;       // access units committed to the packet ring (repeats too)
    uint64_t repeats = 0;          // of those, repeats of the last frame
    uint64_t repeats_skipped = 0;  // repeat publications let go: not due at the keep-alive rate
    uint64_t drops = 0;            // frames that failed to encode + units the packet ring refused
    uint64_t errors = 0;           // encode failures
    uint64_t bytes_out = 0;        // payload bytes committed
    uint64_t keyframes = 0;        // IDR access units committed
  };
  const Counters& counters() const { return counters_; }

  // Writes the counters, fps and capture -> encoded latency into the status page.
  void publish(abi::WorkerStatusPage& page, uint64_t now_ns);

  const Encoder& encoder() const { return *encoder_; }
  const RepeatPolicy& repeatPolicy() const { return policy_; }

 private:
  struct Held {
    FrameConsumer::Frame frame;
    std::shared_ptr<std::atomic<bool>> released;  // set by the picture's release callback
  };

  Turn encodeFrame(const FrameConsumer::Frame& frame);
  Turn repeatAt(uint64_t capture_time_ns);  // encodes the last picture again
  uint64_t clockNs() const;                 // the injected clock, or CLOCK_MONOTONIC
  void onUnit(const AccessUnit& unit);
  void reap();  // gives back the slots libavcodec and the encoder no longer refer to
  void noteError(const Error& error);

  std::optional<Encoder> encoder_;
  FrameConsumer& frames_;
  PacketProducer& packets_;
  const Clock* clock_;
  RepeatPolicy policy_;
  std::vector<Held> held_;
  bool keyframe_pending_ = false;  // asked for and not yet encoded
  uint64_t taken_ns_ = 0;          // when the picture being encoded was taken from the ring
  uint64_t last_content_ = 0;      // content_token of the picture the encoder holds (hasLast)
  uint64_t units_ = 0;             // frame_number of the next access unit
  uint64_t last_capture_ns_ = 0;   // capture times in the packet ring only move forward
  uint64_t last_error_log_ns_ = 0;
  uint64_t errors_unlogged_ = 0;
  Counters counters_;
  StageStats stats_;
};

}  // namespace funkhaus::encode
