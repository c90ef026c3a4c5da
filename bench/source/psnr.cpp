// PSNR of 8-bit planes.
#include "funkhaus/bench/psnr.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace funkhaus::bench {

void SquaredError::addPlane(int plane, const PlaneView& a, const PlaneView& b) {
  if (plane < 0 || plane > 2) std::abort();
  uint64_t sum = 0;
  for (uint32_t y = 0; y < a.height; ++y) {
    const uint8_t* ra = a.data + y * a.stride;
    const uint8_t* rb = b.data + y * b.stride;
    uint32_t row = 0;  // 255^2 * width fits in 32 bits up to 66 000 samples a row
    for (uint32_t x = 0; x < a.width; ++x) {
      const int d = int{ra[x]} - int{rb[x]};
      row += static_cast<uint32_t>(d * d);
    }
    sum += row;
  }
  sse[plane] += sum;
  samples[plane] += uint64_t{a.width} * a.height;
}

void SquaredError::add(const SquaredError& other) {
  for (int i = 0; i < 3; ++i) {
    sse[i] += other.sse[i];
    samples[i] += other.samples[i];
  }
}

double SquaredError::psnrOf(uint64_t sse, uint64_t samples) {
  if (samples == 0) return 0;
  if (sse == 0) return kMaxPsnrDb;
  const double mse = static_cast<double>(sse) / static_cast<double>(samples);
  return std::min(kMaxPsnrDb, 10.0 * std::log10(255.0 * 255.0 / mse));
}

}  // namespace funkhaus::bench
