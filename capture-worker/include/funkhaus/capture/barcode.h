// Barcode: a frame number and a CLOCK_MONOTONIC capture time stamped as big black/white blocks
// into a frame's luma plane, read back from decoded frames. Any thread; no state.
#pragma once

#include <cstdint>

#include "funkhaus/common/result.h"

namespace funkhaus::capture {

struct BarcodeData {
  uint64_t frame_number = 0;
  uint64_t capture_ns = 0;  // CLOCK_MONOTONIC
  friend bool operator==(const BarcodeData&, const BarcodeData&) = default;
};

// Where the barcode sits: a band of kBarcodeColumns x kBarcodeRows square blocks in the top-left
// corner. The block size depends on the frame width only, so a reader finds it again from the
// decoded frame's size: multiples of 8 pixels (x264's transform grid) from width 256 up, whole
// 16x16 macroblocks from width 1280 up (1920: 32-pixel blocks, a 1024x192 band).
inline constexpr uint32_t kBarcodeColumns = 32;
inline constexpr uint32_t kBarcodeRows = 6;
// Luma of a 0 and a 1 block (limited range black and white).
inline constexpr uint8_t kBarcodeBlack = 16;
inline constexpr uint8_t kBarcodeWhite = 235;

struct BarcodeLayout {
  uint32_t block = 0;        // block edge in pixels
  uint32_t band_width = 0;   // kBarcodeColumns * block
  uint32_t band_height = 0;  // kBarcodeRows * block
};

// The layout for a width x height frame, or an error if the frame is too small to hold one
// (it needs width >= 64 and height >= 6 blocks).
Result<BarcodeLayout> barcodeLayout(uint32_t width, uint32_t height);

// Writes the barcode into the luma plane (`stride` bytes per row). Only the band is touched;
// callers that own the chroma planes should make them neutral (128) under the band.
Result<void> stampBarcode(uint8_t* luma, uint32_t stride, uint32_t width, uint32_t height,
                          const BarcodeData& data);

// Reads the barcode back from a (decoded, possibly lossy) luma plane. The threshold adapts to
// the frame's black and white levels (limited or full range). An error, never a wrong value,
// when the band is missing, damaged or ambiguous: sync blocks, per-block margins and a CRC-32
// over the payload are all checked.
Result<BarcodeData> readBarcode(const uint8_t* luma, uint32_t stride, uint32_t width,
                                uint32_t height);

}  // namespace funkhaus::capture
