// gamestream_probe's decoder and barcode reader (video_decoder.h).
#include "video_decoder.h"

#include <Limelight.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace funkhaus::probe {

namespace {

std::string avError(int err) {
  char text[AV_ERROR_MAX_STRING_SIZE] = "";
  av_strerror(err, text, sizeof text);
  return text;
}

// Formats whose plane 0 is 8-bit luma at full resolution: read directly.
bool hasEightBitLuma(int format) {
  switch (format) {
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_YUV422P:
    case AV_PIX_FMT_YUVJ422P:
    case AV_PIX_FMT_YUV444P:
    case AV_PIX_FMT_YUVJ444P:
    case AV_PIX_FMT_NV12:
    case AV_PIX_FMT_GRAY8:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<std::unique_ptr<VideoDecoder>> VideoDecoder::create(int video_format) {
  AVCodecID id = AV_CODEC_ID_NONE;
  if (video_format & VIDEO_FORMAT_MASK_H264)
    id = AV_CODEC_ID_H264;
  else if (video_format & VIDEO_FORMAT_MASK_H265)
    id = AV_CODEC_ID_HEVC;
  else if (video_format & VIDEO_FORMAT_MASK_AV1)
    id = AV_CODEC_ID_AV1;
  const AVCodec* codec = id == AV_CODEC_ID_NONE ? nullptr : avcodec_find_decoder(id);
  if (codec == nullptr)
    return makeError("no libavcodec decoder for video format 0x{:x}", video_format);
  std::unique_ptr<VideoDecoder> d(new VideoDecoder());
  d->context_ = avcodec_alloc_context3(codec);
  d->packet_ = av_packet_alloc();
  d->frame_ = av_frame_alloc();
  if (!d->context_ || !d->packet_ || !d->frame_) return makeError("libavcodec: out of memory");
  // One picture out per access unit: no frame threading (it delays output), slices in parallel.
  d->context_->flags |= AV_CODEC_FLAG_LOW_DELAY;
  d->context_->thread_type = FF_THREAD_SLICE;
  d->context_->thread_count = 2;
  if (const int err = avcodec_open2(d->context_, codec, nullptr); err < 0)
    return makeError("avcodec_open2({}): {}", codec->name, avError(err));
  return d;
}

VideoDecoder::~VideoDecoder() {
  sws_freeContext(sws_);
  av_frame_free(&frame_);
  av_packet_free(&packet_);
  avcodec_free_context(&context_);
}

const char* VideoDecoder::codecName() const { return context_->codec->name; }

const uint8_t* VideoDecoder::luma(int& stride) {
  if (hasEightBitLuma(frame_->format)) {
    stride = frame_->linesize[0];
    return frame_->data[0];
  }
  sws_ = sws_getCachedContext(
      sws_, frame_->width, frame_->height, static_cast<AVPixelFormat>(frame_->format),
      frame_->width, frame_->height, AV_PIX_FMT_GRAY8, SWS_POINT, nullptr, nullptr, nullptr);
  if (sws_ == nullptr) return nullptr;
  stride = (frame_->width + 31) / 32 * 32;
  gray_.resize(static_cast<size_t>(stride) * static_cast<size_t>(frame_->height));
  uint8_t* planes[4] = {gray_.data(), nullptr, nullptr, nullptr};
  const int strides[4] = {stride, 0, 0, 0};
  if (sws_scale(sws_, frame_->data, frame_->linesize, 0, frame_->height, planes, strides) <= 0)
    return nullptr;
  return gray_.data();
}

Result<std::vector<DecodedPicture>> VideoDecoder::decode(std::vector<uint8_t>& au) {
  const size_t size = au.size();
  au.resize(size + AV_INPUT_BUFFER_PADDING_SIZE, 0);
  packet_->data = au.data();
  packet_->size = static_cast<int>(size);
  const int sent = avcodec_send_packet(context_, packet_);
  au.resize(size);
  packet_->data = nullptr;
  packet_->size = 0;
  if (sent < 0) return makeError("avcodec_send_packet: {}", avError(sent));
  std::vector<DecodedPicture> pictures;
  for (;;) {
    const int got = avcodec_receive_frame(context_, frame_);
    if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) break;
    if (got < 0) return makeError("avcodec_receive_frame: {}", avError(got));
    DecodedPicture p;
    p.width = static_cast<uint32_t>(frame_->width);
    p.height = static_cast<uint32_t>(frame_->height);
    p.corrupt = (frame_->flags & AV_FRAME_FLAG_CORRUPT) != 0 || frame_->decode_error_flags != 0;
    int stride = 0;
    const uint8_t* y = luma(stride);
    if (y == nullptr) {
      p.barcode_error =
          fmt::format("cannot convert {} to gray",
                      av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame_->format)));
    } else {
      uint64_t sum = 0, count = 0;
      for (uint32_t row = 0; row < p.height; row += 4)
        for (uint32_t col = 0; col < p.width; col += 4, ++count)
          sum += y[static_cast<size_t>(row) * static_cast<size_t>(stride) + col];
      p.mean_luma = count ? static_cast<double>(sum) / static_cast<double>(count) : -1;
      auto read = capture::readBarcode(y, static_cast<uint32_t>(stride), p.width, p.height);
      if (read)
        p.barcode = *read;
      else
        p.barcode_error = read.error().message;
    }
    av_frame_unref(frame_);
    pictures.push_back(std::move(p));
  }
  return pictures;
}

}  // namespace funkhaus::probe
