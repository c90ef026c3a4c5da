// SyntheticPattern: a moving I420 test picture (diagonal bars over a gradient, a moving box,
// chroma waves) with the barcode stamped in, drawn from precomputed rows. Used by the synthetic
// capture source on the worker's main thread, and by tests that need real-looking frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/result.h"

namespace funkhaus::capture {

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
