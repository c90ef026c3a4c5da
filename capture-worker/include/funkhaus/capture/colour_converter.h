// ColourConverter: one libswscale pass from a packed 32-bit RGB image to I420 planes (scaling
// when the sizes differ), BT.601 limited range. Keeps its SwsContext cached per geometry.
// Used by the X11 capture source on the worker's main thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/common/result.h"

struct SwsContext;

namespace funkhaus::capture {

// Byte order of a 32-bit pixel in memory.
enum class PackedFormat {
  kBgrx,  // B, G, R, unused: X11 TrueColor 24/32 on a little-endian server
  kXrgb,  // unused, R, G, B: the same visual on a big-endian server
};

class ColourConverter {
 public:
  ColourConverter() = default;
  ColourConverter(const ColourConverter&) = delete;
  ColourConverter& operator=(const ColourConverter&) = delete;
  ~ColourConverter();

  // Converts `src` (src_width x src_height, src_stride bytes per row) into the I420 planes of
  // `payload` laid out as `out` (which may be smaller: the image is scaled to it).
  Result<void> toI420(PackedFormat format, const uint8_t* src, uint32_t src_stride,
                      uint32_t src_width, uint32_t src_height, std::byte* payload,
                      const abi::FrameGeometry& out);

  // How often a new SwsContext had to be made (a geometry change), for tests.
  uint64_t contextsCreated() const { return contexts_created_; }

 private:
  SwsContext* context_ = nullptr;
  PackedFormat format_ = PackedFormat::kBgrx;
  uint32_t src_width_ = 0, src_height_ = 0, out_width_ = 0, out_height_ = 0;
  uint64_t contexts_created_ = 0;
};

}  // namespace funkhaus::capture
