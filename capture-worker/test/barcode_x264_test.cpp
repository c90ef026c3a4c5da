// The barcode survives a real libx264 encode (low-latency CBR settings) and libavcodec decode:
// every decoded frame reads back exactly, or is reported unreadable; never a wrong number.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "funkhaus/capture/barcode.h"
#include "funkhaus/capture/frame_clock.h"
#include "funkhaus/capture/synthetic_pattern.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
}

namespace funkhaus::capture {
namespace {

struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
  void operator()(AVFrame* f) const { av_frame_free(&f); }
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
template <class T>
using Av = std::unique_ptr<T, CodecDeleter>;

struct Settings {
  uint32_t width, height;
  const char* preset;
  int64_t bitrate;
  int frames;
  // Frames that must read back, in percent. Not 100: with a one-frame VBV, x264 codes the
  // first IDR (and, rarely, a frame whose size spikes) at QP 51, where a 16 -> 235 block
  // change quantizes to nothing; those frames must be reported unreadable, never misread.
  // 0: a stress run far below the brief's settings, where only "never wrong" is required.
  int min_read_percent;
};

struct Tally {
  int decoded = 0, read = 0, unreadable = 0, misread = 0;
  std::string first_error;
  std::string unreadable_frames;
  double encode_ms = 0;
};

Tally encodeDecodeAndRead(const Settings& s, bool* skipped) {
  Tally t;
  constexpr int kFps = 60;
  const AVCodec* x264 = avcodec_find_encoder_by_name("libx264");
  const AVCodec* h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
  if (x264 == nullptr || h264 == nullptr) {
    *skipped = true;
    return t;
  }
  // Low latency as funkhaus-encode runs it: CBR, one-frame VBV, no B-frames, long GOP.
  Av<AVCodecContext> enc(avcodec_alloc_context3(x264));
  enc->width = static_cast<int>(s.width);
  enc->height = static_cast<int>(s.height);
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = {1, kFps};
  enc->framerate = {kFps, 1};
  enc->bit_rate = s.bitrate;
  enc->rc_max_rate = s.bitrate;
  enc->rc_min_rate = s.bitrate;
  enc->rc_buffer_size = static_cast<int>(s.bitrate / kFps);
  enc->gop_size = 600;
  enc->max_b_frames = 0;
  enc->thread_count = 1;  // deterministic output: the same frames read or not, run after run
  av_opt_set(enc->priv_data, "preset", s.preset, 0);
  av_opt_set(enc->priv_data, "tune", "zerolatency", 0);
  EXPECT_EQ(avcodec_open2(enc.get(), x264, nullptr), 0);
  Av<AVCodecContext> dec(avcodec_alloc_context3(h264));
  dec->thread_count = 1;
  EXPECT_EQ(avcodec_open2(dec.get(), h264, nullptr), 0);

  auto pattern = SyntheticPattern::create(s.width, s.height);
  EXPECT_TRUE(pattern.ok());
  const abi::FrameGeometry& g = pattern->geometry();
  std::vector<std::byte> buffer(pattern->frameBytes() + 64);
  const FrameClock clock(kFps);
  std::vector<BarcodeData> sent;
  Av<AVFrame> frame(av_frame_alloc());
  Av<AVFrame> decoded(av_frame_alloc());
  Av<AVPacket> packet(av_packet_alloc());

  auto drainDecoder = [&] {
    while (avcodec_receive_frame(dec.get(), decoded.get()) == 0) {
      const auto expected = sent.at(static_cast<size_t>(t.decoded++));
      auto data = readBarcode(decoded->data[0], static_cast<uint32_t>(decoded->linesize[0]),
                              static_cast<uint32_t>(decoded->width),
                              static_cast<uint32_t>(decoded->height));
      if (!data) {
        ++t.unreadable;
        t.unreadable_frames += " " + std::to_string(t.decoded - 1);
        std::printf("DEBUG %d: %s\n", t.decoded - 1, data.error().message.c_str());
        if (t.first_error.empty())
          t.first_error = "frame " + std::to_string(t.decoded - 1) + ": " + data.error().message;
      } else if (*data != expected) {
        ++t.misread;
      } else {
        ++t.read;
      }
    }
  };
  auto drainEncoder = [&] {
    while (avcodec_receive_packet(enc.get(), packet.get()) == 0) {
      EXPECT_EQ(avcodec_send_packet(dec.get(), packet.get()), 0);
      av_packet_unref(packet.get());
      drainDecoder();
    }
  };
  const uint64_t base_ns = 1'000'000'000'000'000;
  for (int i = 0; i < s.frames; ++i) {
    const uint64_t capture_ns = base_ns + static_cast<uint64_t>(i) * 1'000'000'000 / kFps;
    const BarcodeData data{clock.frameAt(capture_ns), capture_ns};
    pattern->render(data, buffer.data());
    sent.push_back(data);
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = static_cast<int>(s.width);
    frame->height = static_cast<int>(s.height);
    for (int p = 0; p < 3; ++p) {
      frame->data[p] = reinterpret_cast<uint8_t*>(buffer.data()) + g.plane_offset[p];
      frame->linesize[p] = static_cast<int>(g.stride[p]);
    }
    frame->pts = i;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(avcodec_send_frame(enc.get(), frame.get()), 0);
    t.encode_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    drainEncoder();
  }
  EXPECT_EQ(avcodec_send_frame(enc.get(), nullptr), 0);
  drainEncoder();
  EXPECT_EQ(avcodec_send_packet(dec.get(), nullptr), 0);
  drainDecoder();
  return t;
}

class BarcodeThroughX264 : public ::testing::TestWithParam<Settings> {};

TEST_P(BarcodeThroughX264, EveryFrameReadsBackOrIsReported) {
  const Settings s = GetParam();
  bool skipped = false;
  const Tally t = encodeDecodeAndRead(s, &skipped);
  if (skipped) GTEST_SKIP() << "libavcodec has no libx264 encoder or h264 decoder";
  std::printf(
      "[figures] barcode through libx264 %ux%u %s %lld bit/s: %d frames decoded, %d read, "
      "%d unreadable, %d misread; encode %.2f ms/frame\n",
      s.width, s.height, s.preset, static_cast<long long>(s.bitrate), t.decoded, t.read,
      t.unreadable, t.misread, t.decoded ? t.encode_ms / s.frames : 0.0);
  if (!t.first_error.empty())
    std::printf("[figures]   first unreadable: %s; unreadable frames:%s\n", t.first_error.c_str(),
                t.unreadable_frames.substr(0, 200).c_str());
  EXPECT_EQ(t.decoded, s.frames);
  EXPECT_EQ(t.misread, 0) << "a misread must be an error, never a wrong number";
  EXPECT_GE(t.read * 100, s.frames * s.min_read_percent) << t.first_error;
}

INSTANTIATE_TEST_SUITE_P(
    Settings, BarcodeThroughX264,
    ::testing::Values(Settings{1920, 1080, "ultrafast", 4'000'000, 180, 90},
                      Settings{1920, 1080, "superfast", 4'000'000, 120, 90},
                      Settings{1920, 1080, "ultrafast", 8'000'000, 120, 95},
                      Settings{640, 360, "ultrafast", 2'000'000, 180, 95},
                      Settings{320, 180, "ultrafast", 2'000'000, 180, 95},
                      Settings{320, 180, "superfast", 1'000'000, 180, 95},
                      // Stress, far below the brief's settings: only "never wrong" is required.
                      Settings{1920, 1080, "ultrafast", 1'000'000, 120, 0},
                      Settings{320, 180, "ultrafast", 150'000, 180, 0}),
    [](const auto& p) {
      return std::to_string(p.param.width) + "x" + std::to_string(p.param.height) + "_" +
             p.param.preset + "_" + std::to_string(p.param.bitrate / 1000) + "k";
    });

}  // namespace
}  // namespace funkhaus::capture
