// When a monitor publishes its next frame: a grab as soon as the screen changed and a refresh
// interval has passed since the last grab, else a repeat at each refresh tick. Monitor thread.
#pragma once

#include <algorithm>
#include <cstdint>

namespace funkhaus::vdisplay {

// Pure scheduling on CLOCK_MONOTONIC nanoseconds passed in (tests drive it with made-up time).
// Grabs follow a cadence of one per period: a grab within a period of its due time takes that
// due time as its slot, so continuous damage yields the refresh rate, never more; a grab after
// an idle spell starts a new cadence at once (no wait for a tick). Ticks (repeats while nothing
// changed) run a period apart and restart a period after each grab.
class FramePacer {
 public:
  enum class Action { kNone, kGrab, kRepeat };

  void setPeriod(uint64_t period_ns) { period_ns_ = std::max<uint64_t>(period_ns, 1); }
  uint64_t periodNs() const { return period_ns_; }

  // A grab was started (or tried: no free slot) at `now`, whatever decided it.
  void grabbed(uint64_t now) {
    const uint64_t due = grab_slot_ns_ + period_ns_;
    grab_slot_ns_ = have_grabbed_ && now >= due && now - due < period_ns_ ? due : now;
    have_grabbed_ = true;
    tick_ns_ = grab_slot_ns_ + period_ns_;
  }

  // The next tick is `now` (an X server restarted: its picture is due at once).
  void tickAt(uint64_t now) { tick_ns_ = now; }

  // When decide() has something to do next: the screen changed -> the earliest allowed grab.
  uint64_t nextDueNs(bool damaged) const {
    if (!damaged) return tick_ns_;
    return have_grabbed_ ? std::min(tick_ns_, grab_slot_ns_ + period_ns_) : 0;
  }

  // What to do at `now`. `busy`: a grab is in flight (nothing starts; a tick passing meanwhile
  // is skipped). kRepeat means the picture did not change and a tick has come; a caller that
  // grabs instead (the last picture cannot be repeated) reports it with grabbed().
  Action decide(uint64_t now, bool damaged, bool busy) {
    if (!busy && damaged && now >= nextDueNs(true)) {
      grabbed(now);
      return Action::kGrab;
    }
    if (now < tick_ns_) return Action::kNone;
    tick_ns_ += period_ns_;
    if (tick_ns_ <= now) tick_ns_ = now + period_ns_;
    return busy || damaged ? Action::kNone : Action::kRepeat;
  }

 private:
  uint64_t period_ns_ = 1;
  uint64_t tick_ns_ = 0;
  uint64_t grab_slot_ns_ = 0;  // the cadence slot of the last grab
  bool have_grabbed_ = false;
};

}  // namespace funkhaus::vdisplay
