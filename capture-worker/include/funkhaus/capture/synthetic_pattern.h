// SyntheticPattern: a moving I420 test picture (diagonal bars over a gradient, a moving box,
// chroma waves) with the barcode stamped in, drawn from precomputed rows. Used by the synthetic
// capture source on the worker's main thread, and by tests that need real-looking frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/result.h"

namespace funkhaus::capture {

// The A/V sync flash: whether the frame captured at `capture_ns` (CLOCK_MONOTONIC) is the first
// at or after a multiple of `period_ns`, the previous frame having been captured at
// `previous_ns` (nullopt: this is the first frame, which flashes only when it falls exactly on
// a multiple). The click of funkhaus-audio's sync source starts at each such multiple.
bool isSyncFlash(std::optional<uint64_t> previous_ns, uint64_t capture_ns, uint64_t period_ns);

// Mean luma of the sync pattern's frames: the flash, and every other frame.
inline constexpr uint8_t kSyncFlashLuma = 235;
inline constexpr uint8_t kSyncDarkLuma = 16;

class SyntheticPattern {
 public:
  // Fails if the size is out of range or too small for a barcode.
  static Result<SyntheticPattern> create(uint32_t width, uint32_t height);

  // Packed I420 (makeGeometry) of the configured size.
  const abi::FrameGeometry& geometry() const { return geometry_; }
  uint64_t frameBytes() const { return frame_bytes_; }

  // Draws the picture of frame `data.frame_number` (its motion follows the number) into
  // `payload`, laid out as geometry() and at least frameBytes() long, and stamps the barcode.
  void render(const BarcodeData& data, std::byte* payload) const;

  // The A/V sync picture instead: every pixel at `luma` (limited range, 16..235) with neutral
  // chroma, the barcode stamped in as render() does.
  void renderFlat(const BarcodeData& data, uint8_t luma, std::byte* payload) const;

 private:
  SyntheticPattern() = default;

  abi::FrameGeometry geometry_{};
  uint64_t frame_bytes_ = 0;
  BarcodeLayout barcode_{};
  std::vector<uint8_t> luma_row_;  // width + kShiftRange pixels; rows are windows into it
  std::vector<uint8_t> u_row_;
  std::vector<uint8_t> v_row_;
};

}  // namespace funkhaus::capture
