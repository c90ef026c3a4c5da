// Zero-copy proof by allocation counting: libavutil allocates every frame buffer through
// posix_memalign (av_malloc), so this binary interposes posix_memalign and counts allocations
// of at least a luma plane made from libavutil while a frame is being encoded (allocations of
// the encoder library itself, e.g. x265's picture pool, are counted apart). A control shows the
// count sees libavcodec's copy of a non-refcounted frame; the encoder, fed from a frame-ring
// slot, makes none.
#include <dlfcn.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
}

#include "funkhaus/common/clock.h"
#include "funkhaus/encode/encoder.h"
#include "test_support.h"

namespace {

std::atomic<bool> g_armed{false};
std::atomic<size_t> g_threshold{SIZE_MAX};
std::atomic<int> g_big_allocations{0};    // from libavutil (av_malloc)
std::atomic<int> g_other_allocations{0};  // from anywhere else (the encoder library itself)

}  // namespace

extern "C" int posix_memalign(void** ptr, size_t alignment, size_t size) {
  using Fn = int (*)(void**, size_t, size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "posix_memalign"));
  if (g_armed.load(std::memory_order_relaxed) &&
      size >= g_threshold.load(std::memory_order_relaxed)) {
    Dl_info info{};
    if (dladdr(__builtin_return_address(0), &info) != 0 && info.dli_fname != nullptr &&
        std::strstr(info.dli_fname, "libavutil") != nullptr)
      g_big_allocations.fetch_add(1, std::memory_order_relaxed);
    else
      g_other_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  return real(ptr, alignment, size);
}

namespace funkhaus::encode {
namespace {

// Counts big allocations while alive.
class Counting {
 public:
  explicit Counting(size_t threshold) {
    g_threshold = threshold;
    g_big_allocations = 0;
    g_other_allocations = 0;
    g_armed = true;
  }
  ~Counting() { g_armed = false; }
  int count() const { return g_big_allocations.load(); }
  int others() const { return g_other_allocations.load(); }
};

// The control: plain libavcodec/libx264. A frame without buffers is copied by
// avcodec_send_frame (one big allocation); the same memory wrapped in an AVBuffer is not.
TEST(ZeroCopyTest, CountingSeesLibavcodecCopyANonRefcountedFrame) {
  constexpr int kW = 640, kH = 360;
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  ASSERT_NE(codec, nullptr);
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  ctx->width = kW;
  ctx->height = kH;
  ctx->pix_fmt = AV_PIX_FMT_YUV420P;
  ctx->time_base = {1, 30};
  av_opt_set(ctx->priv_data, "preset", "superfast", 0);
  av_opt_set(ctx->priv_data, "tune", "zerolatency", 0);
  ASSERT_EQ(avcodec_open2(ctx, codec, nullptr), 0);
  std::vector<uint8_t> memory(kW * kH * 3 / 2, 100);
  AVPacket* packet = av_packet_alloc();
  auto send = [&](bool refcounted, int64_t pts) {
    AVFrame* f = av_frame_alloc();
    f->format = AV_PIX_FMT_YUV420P;
    f->width = kW;
    f->height = kH;
    f->data[0] = memory.data();
    f->data[1] = memory.data() + kW * kH;
    f->data[2] = memory.data() + kW * kH * 5 / 4;
    f->linesize[0] = kW;
    f->linesize[1] = f->linesize[2] = kW / 2;
    f->pts = pts;
    if (refcounted)
      f->buf[0] = av_buffer_create(
          memory.data(), memory.size(), [](void*, uint8_t*) {}, nullptr, AV_BUFFER_FLAG_READONLY);
    int count = 0;
    {
      Counting counting(size_t{kW} * kH);
      EXPECT_EQ(avcodec_send_frame(ctx, f), 0);
      count = counting.count();
    }
    while (avcodec_receive_packet(ctx, packet) == 0) av_packet_unref(packet);
    av_frame_free(&f);
    return count;
  };
  send(true, 0);  // warm-up: first-frame allocations
  send(true, 1);
  const int copied = send(false, 2);
  const int referenced = send(true, 3);
  test::figure(fmt::format(
      "allocations >= one luma plane inside avcodec_send_frame: non-refcounted frame {}, "
      "refcounted frame {}",
      copied, referenced));
  EXPECT_GE(copied, 1) << "the counter must see libavcodec's copy, or it proves nothing";
  EXPECT_EQ(referenced, 0);
  av_packet_free(&packet);
  avcodec_free_context(&ctx);
}

// The encoder fed from frame-ring slots allocates no frame-sized buffer per frame: the slot is
// encoded where it lies. For BGRA (converted once into an encoder-owned frame) the conversion
// targets are reused, so there is no per-frame allocation either after the first frames.
TEST(ZeroCopyTest, EncoderFromRingSlotsAllocatesNoFrameBuffers) {
  struct Case {
    abi::PixelFormat format;
    const char* encoder;
  };
  for (const Case& c :
       {Case{abi::PixelFormat::kI420, "libx264"}, Case{abi::PixelFormat::kNv12, "libx264"},
        Case{abi::PixelFormat::kI420, "libx265"}, Case{abi::PixelFormat::kBgra, "libx264"}}) {
    const auto g = *makeGeometry(c.format, 640, 360);
    auto rings = test::makeRings(g);
    EncoderConfig config;
    config.encoder = c.encoder;
    config.fps = 30;
    auto encoder = Encoder::create(config);
    ASSERT_TRUE(encoder) << encoder.error().message;
    std::vector<int> counts;
    std::vector<int> others;
    for (uint32_t i = 0; i < 8; ++i) {
      ASSERT_NE(test::publishPicture(*rings.producer, g, i, monotonicNs()), 0u);
      FrameConsumer::Frame f;
      ASSERT_EQ(rings.consumer->acquireLatest(1'000'000'000, &f), FrameConsumer::Status::kFrame);
      Picture p;
      p.geometry = f.geometry;
      p.payload = f.payload;
      p.capture_time_ns = f.capture_time_ns;
      p.on_release = [&rings, f] { rings.consumer->release(f); };
      Counting counting(size_t{640} * 360);
      ASSERT_TRUE(encoder->encode(std::move(p), [](const AccessUnit&) {}));
      counts.push_back(counting.count());
      others.push_back(counting.others());
    }
    std::string list, other_list;
    for (int n : counts) list += std::to_string(n) + " ";
    for (int n : others) other_list += std::to_string(n) + " ";
    const char* format = c.format == abi::PixelFormat::kBgra   ? "BGRA"
                         : c.format == abi::PixelFormat::kNv12 ? "NV12"
                                                               : "I420";
    test::figure(fmt::format(
        "{} {} 640x360, frame-sized allocations per encode(): by libavutil {}| by the encoder "
        "library {}(in place {}, converted {})",
        c.encoder, format, list, other_list, encoder->stats().in_place,
        encoder->stats().converted));
    // The first picture opens the encoder and (BGRA) allocates the conversion target.
    for (size_t i = 1; i < counts.size(); ++i)
      EXPECT_EQ(counts[i], 0) << c.encoder << " " << format << " frame " << i;
    if (c.format == abi::PixelFormat::kBgra) {
      EXPECT_EQ(encoder->stats().converted, 8u);
    } else {
      EXPECT_EQ(encoder->stats().in_place, 8u);
    }
  }
}

}  // namespace
}  // namespace funkhaus::encode
