// RepeatPolicy: when the encode stage encodes its kept picture again while the screen is static —
// at the full rate for a settle time after the last new picture, then at a keep-alive rate.
// Pure decisions over CLOCK_MONOTONIC-like nanoseconds; encode worker main thread.
#pragma once

#include <cstdint>

namespace funkhaus::encode {

struct RepeatOptions {
  // Repeats per second once the picture has been unchanged for `settle_ns`; 0 (or a rate at or
  // above the stream's): the full frame rate all the time.
  uint32_t idle_fps = 2;
  // How long after the last new picture repeats still come at the full rate (x264's rate control
  // refines the static picture within it).
  uint64_t settle_ns = 1'000'000'000;
};

inline constexpr uint32_t kMaxIdleFps = 240;

class RepeatPolicy {
 public:
  RepeatPolicy(uint32_t fps, RepeatOptions options);

  // A new picture was encoded at `now_ns`.
  void onFresh(uint64_t now_ns);
  // A keyframe was asked for at `now_ns` (a new viewer, or one that lost a frame): the settle
  // time starts over, so a viewer's start (ffmpeg probes 20 frames before it plays) sees the
  // full rate, not the keep-alive rate.
  void onKeyframeRequest(uint64_t now_ns);
  // A repeat was encoded at `now_ns` for a reason of its own: a repeat publication came (capture
  // forwards the driver's repeats) or a keyframe was asked for.
  void onRepeat(uint64_t now_ns);
  // A repeat was encoded at `now_ns` because timerDue() had passed (nothing came).
  void onTimedRepeat(uint64_t now_ns);

  // Past the settle time with a keep-alive rate below the full rate: repeats are thinned.
  bool settled(uint64_t now_ns) const;
  // A repeat publication of the kept picture came at `now_ns`: encode it (or let it go)? At the
  // full rate always; once settled when a keep-alive interval has passed (less half a frame, so
  // publications on the refresh grid keep the cadence).
  bool publicationDue(uint64_t now_ns) const;
  // When the stage encodes a repeat on its own if nothing else comes first: two intervals after a
  // new picture or a publication (capture may just be late), then one interval apart; once
  // settled, a keep-alive interval apart (plus one frame after a publication).
  uint64_t timerDue() const;

  uint64_t interval() const { return interval_ns_; }
  uint64_t idleInterval() const { return idle_interval_ns_; }

 private:
  uint64_t interval_ns_;       // one frame at the full rate
  uint64_t idle_interval_ns_;  // one frame at the keep-alive rate (= interval_ns_: no thinning)
  uint64_t settle_ns_;
  uint64_t settle_from_ns_ = 0;  // the last new picture or keyframe request
  uint64_t anchor_ns_ = 0;       // the last output (a timed repeat: when it was due, unless late)
  uint64_t slack_ns_ = 0;        // one interval after a new picture or a publication, else 0
};

}  // namespace funkhaus::encode
