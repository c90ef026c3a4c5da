// The synthetic test picture.
#include "funkhaus/capture/synthetic_pattern.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "funkhaus/common/frame_ring.h"

namespace funkhaus::capture {

namespace {

// Rows are windows of the precomputed rows at an offset below this.
constexpr uint32_t kShiftRange = 512;

// Triangle wave 0..range..0 with period 2 * range.
uint32_t triangle(uint64_t t, uint32_t range) {
  if (range == 0) return 0;
  const uint64_t p = t % (2 * uint64_t{range});
  return static_cast<uint32_t>(p < range ? p : 2 * uint64_t{range} - p);
}

}  // namespace

bool isSyncFlash(std::optional<uint64_t> previous_ns, uint64_t capture_ns, uint64_t period_ns) {
  if (period_ns == 0) return false;
  if (!previous_ns) return capture_ns % period_ns == 0;
  // A multiple of the period in (previous, capture]: the two fall in different periods.
  return *previous_ns < capture_ns && capture_ns / period_ns > *previous_ns / period_ns;
}

Result<SyntheticPattern> SyntheticPattern::create(uint32_t width, uint32_t height) {
  auto geometry = makeGeometry(abi::PixelFormat::kI420, width, height);
  if (!geometry) return geometry.error();
  auto bytes = framePayloadSize(*geometry);
  if (!bytes) return bytes.error();
  auto barcode = barcodeLayout(width, height);
  if (!barcode) return barcode.error();
  SyntheticPattern p;
  p.geometry_ = *geometry;
  p.frame_bytes_ = *bytes;
  p.barcode_ = *barcode;
  // Luma: a ramp with a period of 256 pixels, crossed by dark bars every 80 pixels.
  p.luma_row_.resize(width + kShiftRange);
  for (uint32_t x = 0; x < p.luma_row_.size(); ++x) {
    const bool bar = (x / 16) % 5 == 0;
    p.luma_row_[x] = static_cast<uint8_t>(bar ? 24 : 48 + (x % 256) * 160 / 256);
  }
  // Chroma: two triangle waves of different periods around neutral grey.
  const uint32_t cw = (width + 1) / 2;
  p.u_row_.resize(cw + kShiftRange);
  p.v_row_.resize(cw + kShiftRange);
  for (uint32_t x = 0; x < p.u_row_.size(); ++x) {
    p.u_row_[x] = static_cast<uint8_t>(72 + triangle(x, 112));
    p.v_row_[x] = static_cast<uint8_t>(80 + triangle(x * 3 / 2, 96));
  }
  return p;
}

void SyntheticPattern::render(const BarcodeData& data, std::byte* payload) const {
  const uint64_t n = data.frame_number;
  const uint32_t w = geometry_.width;
  const uint32_t h = geometry_.height;
  const uint32_t cw = (w + 1) / 2;
  const uint32_t ch = (h + 1) / 2;
  auto* y_plane = reinterpret_cast<uint8_t*>(payload) + geometry_.plane_offset[0];
  auto* u_plane = reinterpret_cast<uint8_t*>(payload) + geometry_.plane_offset[1];
  auto* v_plane = reinterpret_cast<uint8_t*>(payload) + geometry_.plane_offset[2];
  const uint32_t ys = geometry_.stride[0];
  const uint32_t cs = geometry_.stride[1];

  // Diagonal bars drifting right by 6 pixels a frame: row y is the precomputed row shifted by
  // y/2 - 6n. Chroma moves with the luma (half the shift at half the resolution), so the
  // motion is one translation that motion search can find, as in real content.
  for (uint32_t y = 0; y < h; ++y) {
    const uint32_t shift =
        static_cast<uint32_t>((kShiftRange * 4 + y / 2 - n * 6 % kShiftRange) % kShiftRange);
    std::memcpy(y_plane + uint64_t{y} * ys, luma_row_.data() + shift, w);
  }
  for (uint32_t y = 0; y < ch; ++y) {
    const uint32_t shift =
        static_cast<uint32_t>((kShiftRange * 4 + y / 2 - n * 3 % kShiftRange) % kShiftRange);
    std::memcpy(u_plane + uint64_t{y} * cs, u_row_.data() + shift, cw);
    std::memcpy(v_plane + uint64_t{y} * cs, v_row_.data() + shift, cw);
  }

  // A bright box bouncing around (even position and size: whole chroma samples).
  const uint32_t bw = std::max<uint32_t>(2, w / 6 & ~1u);
  const uint32_t bh = std::max<uint32_t>(2, h / 6 & ~1u);
  if (bw < w && bh < h) {
    const uint32_t bx = triangle(n * 8, w - bw) & ~1u;
    const uint32_t by = triangle(n * 5, h - bh) & ~1u;
    for (uint32_t y = by; y < by + bh; ++y) std::memset(y_plane + uint64_t{y} * ys + bx, 220, bw);
    for (uint32_t y = by / 2; y < (by + bh) / 2; ++y) {
      std::memset(u_plane + uint64_t{y} * cs + bx / 2, 64, bw / 2);
      std::memset(v_plane + uint64_t{y} * cs + bx / 2, 200, bw / 2);
    }
  }

  // Barcode band: neutral chroma under it, then the luma blocks.
  const uint32_t band_cw = std::min(cw, (barcode_.band_width + 1) / 2);
  const uint32_t band_ch = std::min(ch, (barcode_.band_height + 1) / 2);
  for (uint32_t y = 0; y < band_ch; ++y) {
    std::memset(u_plane + uint64_t{y} * cs, 128, band_cw);
    std::memset(v_plane + uint64_t{y} * cs, 128, band_cw);
  }
  // create() checked that the barcode fits.
  if (!stampBarcode(y_plane, ys, w, h, data)) std::abort();
}

void SyntheticPattern::renderFlat(const BarcodeData& data, uint8_t luma, std::byte* payload) const {
  const uint32_t w = geometry_.width;
  const uint32_t h = geometry_.height;
  const uint32_t cw = (w + 1) / 2;
  const uint32_t ch = (h + 1) / 2;
  auto* y_plane = reinterpret_cast<uint8_t*>(payload) + geometry_.plane_offset[0];
  auto* u_plane = reinterpret_cast<uint8_t*>(payload) + geometry_.plane_offset[1];
  auto* v_plane = reinterpret_cast<uint8_t*>(payload) + geometry_.plane_offset[2];
  for (uint32_t y = 0; y < h; ++y)
    std::memset(y_plane + uint64_t{y} * geometry_.stride[0], luma, w);
  for (uint32_t y = 0; y < ch; ++y) {
    std::memset(u_plane + uint64_t{y} * geometry_.stride[1], 128, cw);
    std::memset(v_plane + uint64_t{y} * geometry_.stride[2], 128, cw);
  }
  if (!stampBarcode(y_plane, geometry_.stride[0], w, h, data)) std::abort();
}

}  // namespace funkhaus::capture
