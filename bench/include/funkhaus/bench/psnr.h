// PSNR of 8-bit I420 pictures against their source: per-plane squared error, pooled over
// frames, in dB. The encoder benchmark's quality figure. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace funkhaus::bench {

// PSNR is reported at most this many dB: identical pictures (no error) give exactly this.
inline constexpr double kMaxPsnrDb = 100.0;

// One plane of 8-bit samples.
struct PlaneView {
  const uint8_t* data = nullptr;
  size_t stride = 0;  // bytes from one row to the next
  uint32_t width = 0;
  uint32_t height = 0;
};

// Squared error summed over a run of frames, per plane (Y, U, V), with the sample counts.
struct SquaredError {
  uint64_t sse[3] = {0, 0, 0};
  uint64_t samples[3] = {0, 0, 0};

  // Adds one plane's error against its source (both of the same size; `a`'s is used).
  void addPlane(int plane, const PlaneView& a, const PlaneView& b);
  void add(const SquaredError& other);

  double psnrY() const { return psnrOf(sse[0], samples[0]); }
  // Y, U and V together, every sample weighted alike (4:1:1 for I420), as ffmpeg's psnr
  // filter and x264's "Global" figure do.
  double psnrAll() const {
    return psnrOf(sse[0] + sse[1] + sse[2], samples[0] + samples[1] + samples[2]);
  }

  // 10 log10(255^2 / (sse / samples)), capped at kMaxPsnrDb; 0 for no samples.
  static double psnrOf(uint64_t sse, uint64_t samples);
};

}  // namespace funkhaus::bench
