// Packed RGB -> I420 with libswscale.
#include "funkhaus/capture/colour_converter.h"

extern "C" {
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
}

namespace funkhaus::capture {

ColourConverter::~ColourConverter() { sws_freeContext(context_); }

Result<void> ColourConverter::toI420(PackedFormat format, const uint8_t* src, uint32_t src_stride,
                                     uint32_t src_width, uint32_t src_height, std::byte* payload,
                                     const abi::FrameGeometry& out) {
  if (out.format != static_cast<uint32_t>(abi::PixelFormat::kI420) || out.plane_count != 3)
    return makeError("colour conversion: output geometry is not I420");
  if (src_width == 0 || src_height == 0 || src_stride < src_width * 4)
    return makeError("colour conversion: source {}x{} with stride {} is invalid", src_width,
                     src_height, src_stride);
  if (context_ == nullptr || format != format_ || src_width != src_width_ ||
      src_height != src_height_ || out.width != out_width_ || out.height != out_height_) {
    const AVPixelFormat src_format =
        format == PackedFormat::kBgrx ? AV_PIX_FMT_BGR0 : AV_PIX_FMT_0RGB;
    const bool scaled = src_width != out.width || src_height != out.height;
    // Chroma from the full-resolution input, filtered down (bilinear: the 2x2 average at the
    // same size; area when shrinking). Measured at 1080p: ~2.4 ms, vs ~2.7 ms for point
    // sampling without SWS_FULL_CHR_H_INP and ~4 ms for plain bilinear.
    const int flags = (scaled ? SWS_AREA : SWS_BILINEAR) | SWS_FULL_CHR_H_INP;
    SwsContext* context =
        sws_getContext(static_cast<int>(src_width), static_cast<int>(src_height), src_format,
                       static_cast<int>(out.width), static_cast<int>(out.height),
                       AV_PIX_FMT_YUV420P, flags, nullptr, nullptr, nullptr);
    if (context == nullptr)
      return makeError("colour conversion: libswscale refused {}x{} -> {}x{}", src_width,
                       src_height, out.width, out.height);
    // Full-range RGB in, limited-range BT.601 YUV out (what decoders assume for untagged H.264).
    const int* coefficients = sws_getCoefficients(SWS_CS_ITU601);
    sws_setColorspaceDetails(context, coefficients, 1, coefficients, 0, 0, 1 << 16, 1 << 16);
    sws_freeContext(context_);
    context_ = context;
    format_ = format;
    src_width_ = src_width;
    src_height_ = src_height;
    out_width_ = out.width;
    out_height_ = out.height;
    ++contexts_created_;
  }
  const uint8_t* src_planes[4] = {src, nullptr, nullptr, nullptr};
  const int src_strides[4] = {static_cast<int>(src_stride), 0, 0, 0};
  auto* base = reinterpret_cast<uint8_t*>(payload);
  uint8_t* dst_planes[4] = {base + out.plane_offset[0], base + out.plane_offset[1],
                            base + out.plane_offset[2], nullptr};
  const int dst_strides[4] = {static_cast<int>(out.stride[0]), static_cast<int>(out.stride[1]),
                              static_cast<int>(out.stride[2]), 0};
  const int rows = sws_scale(context_, src_planes, src_strides, 0, static_cast<int>(src_height),
                             dst_planes, dst_strides);
  if (rows != static_cast<int>(out.height))
    return makeError("colour conversion: libswscale wrote {} of {} rows", rows, out.height);
  return {};
}

}  // namespace funkhaus::capture
