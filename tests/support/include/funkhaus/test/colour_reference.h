// The colour policy's expected values, computed independently of the converter under test:
// BT.709 limited-range Y'CbCr from full-range 8-bit RGB, from the standard's coefficients.
#pragma once

namespace funkhaus::test {

struct Yuv {
  int y, u, v;
};

inline Yuv bt709(int r, int g, int b) {
  const double luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  const double y = 16 + 219 * luma / 255;
  const double u = 128 + 224 * (b - luma) / 1.8556 / 255;
  const double v = 128 + 224 * (r - luma) / 1.5748 / 255;
  return {static_cast<int>(y + 0.5), static_cast<int>(u + 0.5), static_cast<int>(v + 0.5)};
}

}  // namespace funkhaus::test
