// RepeatPolicy: full-rate repeats while the picture settles, keep-alive repeats after.
#include "funkhaus/encode/repeat_policy.h"

#include <algorithm>

namespace funkhaus::encode {

RepeatPolicy::RepeatPolicy(uint32_t fps, RepeatOptions options)
    : interval_ns_(1'000'000'000 / std::max<uint32_t>(fps, 1)),
      idle_interval_ns_(options.idle_fps == 0 || options.idle_fps >= fps
                            ? interval_ns_
                            : 1'000'000'000 / options.idle_fps),
      settle_ns_(options.settle_ns) {}

void RepeatPolicy::onFresh(uint64_t now_ns) {
  settle_from_ns_ = now_ns;
  anchor_ns_ = now_ns;
  slack_ns_ = interval_ns_;
}

void RepeatPolicy::onKeyframeRequest(uint64_t now_ns) { settle_from_ns_ = now_ns; }

void RepeatPolicy::onRepeat(uint64_t now_ns) {
  anchor_ns_ = now_ns;
  slack_ns_ = interval_ns_;
}

void RepeatPolicy::onTimedRepeat(uint64_t now_ns) {
  const uint64_t due = timerDue();
  // Keep the cadence on the timer's grid unless the stage fell behind by a frame or more.
  anchor_ns_ = now_ns >= due && now_ns - due < interval_ns_ ? due : now_ns;
  slack_ns_ = 0;
}

bool RepeatPolicy::settled(uint64_t now_ns) const {
  return idle_interval_ns_ > interval_ns_ && now_ns >= settle_from_ns_ + settle_ns_;
}

bool RepeatPolicy::publicationDue(uint64_t now_ns) const {
  if (!settled(now_ns)) return true;
  return now_ns + interval_ns_ / 2 >= anchor_ns_ + idle_interval_ns_;
}

uint64_t RepeatPolicy::timerDue() const {
  const uint64_t full = anchor_ns_ + interval_ns_ + slack_ns_;
  if (!settled(full)) return full;
  return anchor_ns_ + idle_interval_ns_ + slack_ns_;
}

}  // namespace funkhaus::encode
