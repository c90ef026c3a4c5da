// FrameClock: the frame grid of a capture rate on CLOCK_MONOTONIC. A frame's number is
// floor(t * fps / 1e9), so numbers keep increasing across a capture restart and a gap in them
// counts the frames that were lost. Used by the capture worker's main loop and its tests.
#pragma once

#include <cstdint>

namespace funkhaus::capture {

inline constexpr uint32_t kMinFps = 1;
inline constexpr uint32_t kMaxFps = 240;

class FrameClock {
 public:
  explicit FrameClock(uint32_t fps) : fps_(fps) {}

  uint32_t fps() const { return fps_; }

  // The number of the frame whose interval contains `ns`.
  uint64_t frameAt(uint64_t ns) const {
    return static_cast<uint64_t>(static_cast<unsigned __int128>(ns) * fps_ / kNsPerSecond);
  }

  // The first nanosecond of frame `n`'s interval (its deadline): frameAt(startOf(n)) == n.
  uint64_t startOf(uint64_t n) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(n) * kNsPerSecond + fps_ - 1) /
                                 fps_);
  }

 private:
  static constexpr uint64_t kNsPerSecond = 1'000'000'000;
  uint32_t fps_;
};

}  // namespace funkhaus::capture
