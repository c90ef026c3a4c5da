// The colour policy and ColourConverter (libswscale).
#include "funkhaus/common/media/colour.h"

extern "C" {
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
}

namespace funkhaus::media {
namespace {

bool isRgb(PixelLayout layout) {
  return layout == PixelLayout::kBgrx || layout == PixelLayout::kXrgb;
}

AVPixelFormat avFormat(PixelLayout layout) {
  switch (layout) {
    case PixelLayout::kBgrx:
      return AV_PIX_FMT_BGR0;
    case PixelLayout::kXrgb:
      return AV_PIX_FMT_0RGB;
    case PixelLayout::kI420:
      return AV_PIX_FMT_YUV420P;
    case PixelLayout::kNv12:
      return AV_PIX_FMT_NV12;
  }
  return AV_PIX_FMT_NONE;
}

int planeCount(PixelLayout layout) {
  switch (layout) {
    case PixelLayout::kBgrx:
    case PixelLayout::kXrgb:
      return 1;
    case PixelLayout::kNv12:
      return 2;
    case PixelLayout::kI420:
      return 3;
  }
  return 0;
}

// Bytes of a row of plane `plane` of an image `width` wide.
uint64_t rowBytes(PixelLayout layout, int plane, uint32_t width) {
  if (isRgb(layout)) return uint64_t{width} * 4;
  if (plane == 0) return width;
  return layout == PixelLayout::kNv12 ? width : width / 2;
}

const char* name(PixelLayout layout) {
  switch (layout) {
    case PixelLayout::kBgrx:
      return "BGRx";
    case PixelLayout::kXrgb:
      return "xRGB";
    case PixelLayout::kI420:
      return "I420";
    case PixelLayout::kNv12:
      return "NV12";
  }
  return "?";
}

Result<void> check(const Image& image, const char* what) {
  if (image.width == 0 || image.height == 0)
    return makeError("colour conversion: {} image {}x{} is empty", what, image.width, image.height);
  if (!isRgb(image.layout) && (image.width % 2 != 0 || image.height % 2 != 0))
    return makeError("colour conversion: {} {} image {}x{} has an odd size", what,
                     name(image.layout), image.width, image.height);
  for (int p = 0; p < planeCount(image.layout); ++p) {
    if (image.planes[p] == nullptr)
      return makeError("colour conversion: {} image has no plane {}", what, p);
    if (image.strides[p] < rowBytes(image.layout, p, image.width))
      return makeError("colour conversion: {} {} image {}x{}: plane {} stride {} is too small",
                       what, name(image.layout), image.width, image.height, p, image.strides[p]);
  }
  return {};
}

}  // namespace

abi::ColourSpace policyColourSpace(abi::PixelFormat format) {
  switch (format) {
    case abi::PixelFormat::kBgra:
      return abi::ColourSpace::kSrgb;
    case abi::PixelFormat::kI420:
    case abi::PixelFormat::kNv12:
      return abi::ColourSpace::kBt709Limited;
    case abi::PixelFormat::kUnknown:
      break;
  }
  return abi::ColourSpace::kUnspecified;
}

Result<abi::ColourSpace> frameColourSpace(abi::PixelFormat format, uint32_t colour) {
  const abi::ColourSpace policy = policyColourSpace(format);
  if (colour > abi::kMaxColourSpace)
    return makeError("frame of format {} says colour space {}, which does not exist",
                     static_cast<uint32_t>(format), colour);
  const auto said = static_cast<abi::ColourSpace>(colour);
  if (said == abi::ColourSpace::kUnspecified) return policy;
  if (said != policy)
    return makeError("frame of format {} says colour space {}; that format is {}",
                     static_cast<uint32_t>(format), colour, static_cast<uint32_t>(policy));
  return said;
}

Result<Image> imageOf(const abi::FrameGeometry& g, std::byte* payload) {
  Image image;
  image.width = g.width;
  image.height = g.height;
  switch (static_cast<abi::PixelFormat>(g.format)) {
    case abi::PixelFormat::kBgra:
      image.layout = PixelLayout::kBgrx;
      break;
    case abi::PixelFormat::kI420:
      image.layout = PixelLayout::kI420;
      break;
    case abi::PixelFormat::kNv12:
      image.layout = PixelLayout::kNv12;
      break;
    case abi::PixelFormat::kUnknown:
    default:
      return makeError("colour conversion: unknown pixel format {}", g.format);
  }
  if (g.plane_count != static_cast<uint32_t>(planeCount(image.layout)))
    return makeError("colour conversion: {} geometry with {} planes", name(image.layout),
                     g.plane_count);
  auto* base = reinterpret_cast<uint8_t*>(payload);
  for (uint32_t p = 0; p < g.plane_count; ++p) {
    image.planes[p] = base + g.plane_offset[p];
    image.strides[p] = g.stride[p];
  }
  return image;
}

ColourConverter::~ColourConverter() { sws_freeContext(context_); }

Result<void> ColourConverter::convert(const Image& src, const Image& dst) {
  if (auto ok = check(src, "source"); !ok) return ok;
  if (auto ok = check(dst, "target"); !ok) return ok;
  if (isRgb(dst.layout))
    return makeError("colour conversion: {} -> {} is not done (frames are converted to YUV only)",
                     name(src.layout), name(dst.layout));
  if (context_ == nullptr || src.layout != src_layout_ || dst.layout != dst_layout_ ||
      src.width != src_width_ || src.height != src_height_ || dst.width != dst_width_ ||
      dst.height != dst_height_) {
    const bool scaled = src.width != dst.width || src.height != dst.height;
    // Chroma from the full-resolution input, filtered down (bilinear: the 2x2 average at the
    // same size; area when shrinking). Measured at 1080p: ~2.4 ms, vs ~2.7 ms for point
    // sampling without SWS_FULL_CHR_H_INP and ~4 ms for plain bilinear.
    const int flags = (scaled ? SWS_AREA : SWS_BILINEAR) | SWS_FULL_CHR_H_INP;
    SwsContext* context = sws_getContext(static_cast<int>(src.width), static_cast<int>(src.height),
                                         avFormat(src.layout), static_cast<int>(dst.width),
                                         static_cast<int>(dst.height), avFormat(dst.layout), flags,
                                         nullptr, nullptr, nullptr);
    if (context == nullptr)
      return makeError("colour conversion: libswscale refused {} {}x{} -> {} {}x{}",
                       name(src.layout), src.width, src.height, name(dst.layout), dst.width,
                       dst.height);
    // The policy: BT.709 both ways; RGB in is full range, YUV (in or out) limited range.
    const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
    sws_setColorspaceDetails(context, bt709, isRgb(src.layout) ? 1 : 0, bt709, 0, 0, 1 << 16,
                             1 << 16);
    sws_freeContext(context_);
    context_ = context;
    src_layout_ = src.layout;
    dst_layout_ = dst.layout;
    src_width_ = src.width;
    src_height_ = src.height;
    dst_width_ = dst.width;
    dst_height_ = dst.height;
    ++contexts_created_;
  }
  const uint8_t* src_planes[4] = {src.planes[0], src.planes[1], src.planes[2], nullptr};
  const int src_strides[4] = {static_cast<int>(src.strides[0]), static_cast<int>(src.strides[1]),
                              static_cast<int>(src.strides[2]), 0};
  uint8_t* dst_planes[4] = {dst.planes[0], dst.planes[1], dst.planes[2], nullptr};
  const int dst_strides[4] = {static_cast<int>(dst.strides[0]), static_cast<int>(dst.strides[1]),
                              static_cast<int>(dst.strides[2]), 0};
  const int rows = sws_scale(context_, src_planes, src_strides, 0, static_cast<int>(src.height),
                             dst_planes, dst_strides);
  if (rows != static_cast<int>(dst.height))
    return makeError("colour conversion: libswscale wrote {} of {} rows", rows, dst.height);
  return {};
}

}  // namespace funkhaus::media
