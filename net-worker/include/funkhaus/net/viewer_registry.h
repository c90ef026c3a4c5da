// ViewerRegistry: the viewers of every protocol as the core sees them — who plays, who waits for
// a keyframe, who is congested — and the one keyframe policy on their behalf: at most one
// request per interval towards funkhausd, a second keyframe after a viewer starts, re-asking
// while one waits, and backing off for a congested viewer. Pure logic on times passed in
// (CLOCK_MONOTONIC ns); funkhaus-net main thread.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace funkhaus::net {

inline constexpr uint64_t kJoinKeyframeNs = 1'000'000'000;   // second keyframe after a start
inline constexpr uint64_t kKeyframeRetryNs = 1'000'000'000;  // re-ask while a viewer waits
// Keyframe requests on behalf of one congested viewer back off from the first to the second
// (a viewer that stays stalled must not make the encoder send IDRs to everyone all the time).
inline constexpr uint64_t kMinCongestionBackoffNs = 500'000'000;
inline constexpr uint64_t kMaxCongestionBackoffNs = 16'000'000'000;

// One viewer's runtime state; a protocol keeps one per viewer and registers it while it lives.
// Not kept across a net restart: a continued viewer waits for a keyframe anyway.
struct Viewer {
  bool playing = false;
  bool needs_keyframe = false;  // sends nothing until a keyframe
  bool congested = false;       // lost a frame because it could not keep up
  uint64_t backoff_ns = kMinCongestionBackoffNs;
  uint64_t next_congestion_request_ns = 0;
  uint64_t join_keyframe_ns = 0;  // ask for one more keyframe then (0: no)
};

class ViewerRegistry {
 public:
  explicit ViewerRegistry(uint64_t keyframe_interval_ns) : interval_ns_(keyframe_interval_ns) {}

  void add(Viewer* viewer);
  void remove(Viewer* viewer);
  uint32_t playing() const;

  // Each of these returns true when a keyframe should be asked for now (pass it to want()).
  // The viewer starts playing (or continues after a restart): it waits for a keyframe (unless
  // it played already), and
  // gets a second one kJoinKeyframeNs later (ffmpeg with -fflags nobuffer drops what it probed,
  // the first keyframe included, and would never decode an infinite-GOP stream).
  bool started(Viewer& viewer, uint64_t now_ns, bool second_keyframe = true);
  // A frame was dropped because the viewer could not keep up: it waits for a keyframe, asked
  // for on its behalf at most every backoff, which doubles up to kMaxCongestionBackoffNs.
  bool dropped(Viewer& viewer, uint64_t now_ns);
  // It took a whole frame: no longer congested, backoff reset.
  void delivered(Viewer& viewer);
  // Periodic: second keyframes that are due, and re-asking (every kKeyframeRetryNs) while a
  // viewer that is not congested waits for one.
  bool sweep(uint64_t now_ns);

  // The rate limit: true when a request goes out now (the caller sends it). Otherwise one is
  // held back until dueAt(); the caller wakes then and calls due().
  bool want(uint64_t now_ns);
  std::optional<uint64_t> dueAt() const {
    return held_ ? std::optional(last_ns_ + interval_ns_) : std::nullopt;
  }
  bool due(uint64_t now_ns);
  uint64_t requests() const { return requests_; }

 private:
  void sent(uint64_t now_ns);

  uint64_t interval_ns_;
  std::vector<Viewer*> viewers_;
  uint64_t last_ns_ = 0;  // the latest request sent (0: none yet)
  bool held_ = false;     // a request waits for the interval to pass
  uint64_t requests_ = 0;
};

}  // namespace funkhaus::net
