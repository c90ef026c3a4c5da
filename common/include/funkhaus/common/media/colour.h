// The one colour policy of funkhaus and its one converter: YUV frames are BT.709 limited range
// (matrix, primaries, transfer; 16..235/240), RGB frames full-range sRGB. Capture converts what
// it grabs with ColourConverter and says so in the slot header; the encoder converts with the
// same ColourConverter where it must, and tags its VUI with the policy. One converter per thread
// (capture's main thread, the encoder's).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/common/result.h"

struct SwsContext;

namespace funkhaus::media {

// The colour space of a frame of `format` under the policy: kSrgb for BGRA, kBt709Limited for
// I420 and NV12, kUnspecified for an unknown format.
abi::ColourSpace policyColourSpace(abi::PixelFormat format);

// The colour space a consumer takes a frame in: the slot header's, or the policy's for the
// format when the producer left it unspecified. An error when the two disagree (a YUV frame that
// says sRGB, a BGRA frame that says BT.709) or the value is unknown: the producer is broken.
Result<abi::ColourSpace> frameColourSpace(abi::PixelFormat format, uint32_t colour);

// Sample layouts the converter reads and writes.
enum class PixelLayout {
  kBgrx,  // B, G, R, unused/alpha: abi kBgra, X11 TrueColor on a little-endian server
  kXrgb,  // unused, R, G, B: the same visual on a big-endian server
  kI420,  // Y, U, V planes, chroma 2x2 subsampled
  kNv12,  // Y plane, interleaved UV plane, chroma 2x2 subsampled
};

// An image in memory: planes and their strides (bytes per row). A source is only read.
struct Image {
  PixelLayout layout = PixelLayout::kBgrx;
  uint32_t width = 0;
  uint32_t height = 0;
  std::array<uint8_t*, 3> planes{};
  std::array<uint32_t, 3> strides{};
};

// The image of a frame-ring payload laid out as `geometry` (BGRA, I420 or NV12). Error: an unknown
// format.
Result<Image> imageOf(const abi::FrameGeometry& geometry, std::byte* payload);

class ColourConverter {
 public:
  // Who converts. kFastest: BT.709 RGB -> YUV at the same size in funkhaus's own fixed-point
  // kernel (libyuv, as Debian 12 ships it, has no BT.709 RGB -> YUV), YUV -> YUV at the same size
  // in libyuv, anything that scales in libswscale. kSwscale: libswscale for everything (the
  // reference the tests and the cost figures compare against).
  enum class Engine { kFastest, kSwscale };

  explicit ColourConverter(Engine engine = Engine::kFastest) : engine_(engine) {}
  ColourConverter(const ColourConverter&) = delete;
  ColourConverter& operator=(const ColourConverter&) = delete;
  ~ColourConverter();

  // One pass from `src` into `dst`, scaling when the sizes differ. RGB -> YUV uses the BT.709
  // matrix from full-range RGB to limited-range YUV, each chroma sample from the full-resolution
  // input (the 2x2 average at the same size); YUV -> YUV keeps the samples (layout change,
  // scaling). Both engines agree within 1 per sample. Errors name what is wrong (an empty image,
  // a stride too small for the width, YUV -> RGB, odd YUV sizes).
  Result<void> convert(const Image& src, const Image& dst);

  // How often a new SwsContext had to be made (a layout or size change, on the libswscale path
  // only), for tests.
  uint64_t contextsCreated() const { return contexts_created_; }

 private:
  Engine engine_ = Engine::kFastest;
  SwsContext* context_ = nullptr;
  PixelLayout src_layout_ = PixelLayout::kBgrx, dst_layout_ = PixelLayout::kI420;
  uint32_t src_width_ = 0, src_height_ = 0, dst_width_ = 0, dst_height_ = 0;
  uint64_t contexts_created_ = 0;
};

}  // namespace funkhaus::media
