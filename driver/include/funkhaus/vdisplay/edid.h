// CVT reduced-blanking timings and the EDID 1.4 (+ CTA-861 extension for HDR) of a virtual
// monitor. Pure functions, used on the driver's main thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::vdisplay {

// One video timing. Horizontal values in pixels, vertical in lines.
struct VideoTiming {
  uint32_t h_active = 0;
  uint32_t h_front = 0;
  uint32_t h_sync = 0;
  uint32_t h_back = 0;
  uint32_t v_active = 0;
  uint32_t v_front = 0;
  uint32_t v_sync = 0;
  uint32_t v_back = 0;
  uint64_t pixel_clock_hz = 0;
  bool h_sync_positive = false;
  bool v_sync_positive = false;

  uint32_t hTotal() const { return h_active + h_front + h_sync + h_back; }
  uint32_t vTotal() const { return v_active + v_front + v_sync + v_back; }
  // Refresh the timing really has (the 0.25 MHz clock step moves it off the requested rate).
  double refreshHz() const;
};

// VESA CVT 1.2 reduced blanking (version 1), progressive, no margins: 160-pixel horizontal
// blanking (48 front, 32 sync, 80 back), vertical blanking of at least 460 us, sync width by
// aspect ratio, pixel clock rounded down to 0.25 MHz, +hsync -vsync. `width` must be a
// multiple of 8 (the CVT character cell).
Result<VideoTiming> cvtReducedBlanking(uint32_t width, uint32_t height, uint32_t refresh_millihz);

struct EdidParams {
  VideoTiming timing;             // the preferred (first detailed) timing
  uint32_t serial = 0;            // binary serial number (unique per monitor and driver)
  bool hdr = false;               // CTA-861 extension with HDR static metadata and BT.2020
  std::string name = "funkhaus";  // monitor name descriptor, at most 13 characters
};

inline constexpr size_t kEdidBlockSize = 128;

// The physical size claimed for `pixels` at 96 dpi (Xvfb's -dpi 96), rounded to whole
// millimetres: the EDID's image size and the X screen's size in millimetres agree.
uint32_t millimetresAt96Dpi(uint32_t pixels);

// EDID 1.4: manufacturer "FNK", product 0x5644, the binary serial, sRGB primaries, 640x480@60
// in the established timings, descriptors = preferred timing, range limits (when expressible),
// name, dummy. With hdr: 10 bpc input and one CTA-861.3 extension block (video capability,
// colorimetry BT.2020 RGB, HDR static metadata: SDR, SMPTE ST 2084 (PQ), HLG). Checksums set.
// Fails only when the timing does not fit a detailed timing descriptor (validateMode prevents
// that).
Result<std::vector<uint8_t>> buildEdid(const EdidParams& params);

// Sum of the block's 128 bytes mod 256; 0 for a valid block.
uint8_t edidBlockSum(std::span<const uint8_t> block);

}  // namespace funkhaus::vdisplay
