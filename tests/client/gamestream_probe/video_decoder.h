// VideoDecoder: gamestream_probe's H.264/HEVC decoder (libavcodec), which also reads funkhaus's
// capture barcode (capture/barcode.h) from every decoded picture. moonlight-common-c's video
// receive thread only (the renderer's submitDecodeUnit).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/result.h"

struct AVCodecContext;
struct AVPacket;
struct AVFrame;
struct SwsContext;

namespace funkhaus::probe {

struct DecodedPicture {
  uint32_t width = 0;
  uint32_t height = 0;
  bool corrupt = false;  // libavcodec flagged it (concealed errors, missing references)
  std::optional<capture::BarcodeData> barcode;
  std::string barcode_error;  // why there is no barcode
  double mean_luma = -1;      // 0..255 over every 4th pixel of every 4th row; -1: no luma
};

class VideoDecoder {
 public:
  // `video_format`: moonlight-common-c's VIDEO_FORMAT_* the host chose (H.264 or HEVC).
  static Result<std::unique_ptr<VideoDecoder>> create(int video_format);
  ~VideoDecoder();
  VideoDecoder(const VideoDecoder&) = delete;
  VideoDecoder& operator=(const VideoDecoder&) = delete;

  // Decodes one Annex-B access unit (`au` gets padding appended and removed again): the pictures
  // it produced (one with a low-delay stream, none while the decoder buffers), or the decoder's
  // error.
  Result<std::vector<DecodedPicture>> decode(std::vector<uint8_t>& au);

  const char* codecName() const;

 private:
  VideoDecoder() = default;
  // The 8-bit luma plane of frame_ (converted to GRAY8 with libswscale when it has none).
  const uint8_t* luma(int& stride);

  AVCodecContext* context_ = nullptr;
  AVPacket* packet_ = nullptr;
  AVFrame* frame_ = nullptr;
  SwsContext* sws_ = nullptr;
  std::vector<uint8_t> gray_;
};

}  // namespace funkhaus::probe
