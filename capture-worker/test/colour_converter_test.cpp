// ColourConverter: BT.601 limited-range values for known colours, both byte orders, scaling,
// the cached context, bad input, and its cost per 1080p frame.
#include "funkhaus/capture/colour_converter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "funkhaus/common/frame_ring.h"

namespace funkhaus::capture {
namespace {

struct Image {
  uint32_t width, height;
  std::vector<uint8_t> pixels;
};

Image solid(uint32_t w, uint32_t h, uint8_t r, uint8_t g, uint8_t b, PackedFormat format) {
  Image img{w, h, std::vector<uint8_t>(size_t{w} * h * 4)};
  for (size_t i = 0; i < size_t{w} * h; ++i) {
    uint8_t* p = &img.pixels[i * 4];
    if (format == PackedFormat::kBgrx) {
      p[0] = b, p[1] = g, p[2] = r, p[3] = 0xEE;
    } else {
      p[0] = 0xEE, p[1] = r, p[2] = g, p[3] = b;
    }
  }
  return img;
}

struct Converted {
  abi::FrameGeometry g;
  std::vector<std::byte> payload;
  int at(int plane, uint32_t x, uint32_t y) const {
    return static_cast<int>(payload[g.plane_offset[plane] + size_t{y} * g.stride[plane] + x]);
  }
};

Converted convert(ColourConverter& c, const Image& img, PackedFormat format, uint32_t out_w,
                  uint32_t out_h) {
  Converted out{*makeGeometry(abi::PixelFormat::kI420, out_w, out_h), {}};
  out.payload.resize(*framePayloadSize(out.g));
  auto r = c.toI420(format, img.pixels.data(), img.width * 4, img.width, img.height,
                    out.payload.data(), out.g);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return out;
}

TEST(ColourConverter, KnownColoursInBothByteOrders) {
  struct Case {
    uint8_t r, g, b;
    int y, u, v;
  } cases[] = {
      {0, 0, 0, 16, 128, 128},  {255, 255, 255, 235, 128, 128}, {255, 0, 0, 81, 90, 240},
      {0, 255, 0, 145, 54, 34}, {0, 0, 255, 41, 240, 110},      {128, 128, 128, 126, 128, 128},
  };
  for (PackedFormat format : {PackedFormat::kBgrx, PackedFormat::kXrgb}) {
    ColourConverter c;
    for (const Case& k : cases) {
      const Converted out = convert(c, solid(64, 48, k.r, k.g, k.b, format), format, 64, 48);
      for (auto [x, y] : {std::pair{0u, 0u}, {63u, 47u}, {20u, 30u}}) {
        EXPECT_NEAR(out.at(0, x, y), k.y, 1) << int(k.r) << "," << int(k.g) << "," << int(k.b);
        EXPECT_NEAR(out.at(1, x / 2, y / 2), k.u, 1)
            << int(k.r) << "," << int(k.g) << "," << int(k.b);
        EXPECT_NEAR(out.at(2, x / 2, y / 2), k.v, 1)
            << int(k.r) << "," << int(k.g) << "," << int(k.b);
      }
    }
    EXPECT_EQ(c.contextsCreated(), 1u) << "one geometry, one cached context";
  }
}

TEST(ColourConverter, ScalesAndRebuildsItsContextOnlyOnGeometryChanges) {
  ColourConverter c;
  const Image big = solid(640, 480, 255, 0, 0, PackedFormat::kBgrx);
  Converted half = convert(c, big, PackedFormat::kBgrx, 320, 240);
  EXPECT_NEAR(half.at(0, 100, 100), 81, 1);
  EXPECT_NEAR(half.at(2, 50, 50), 240, 1);
  convert(c, big, PackedFormat::kBgrx, 320, 240);
  EXPECT_EQ(c.contextsCreated(), 1u);
  convert(c, big, PackedFormat::kBgrx, 640, 480);
  EXPECT_EQ(c.contextsCreated(), 2u);
}

TEST(ColourConverter, ChromaIsTheAverageOfEachTwoByTwoBlock) {
  // Columns alternate red and blue: chroma must blend them, not pick one.
  Image img = solid(64, 16, 255, 0, 0, PackedFormat::kBgrx);
  for (uint32_t y = 0; y < 16; ++y)
    for (uint32_t x = 1; x < 64; x += 2) {
      uint8_t* p = &img.pixels[(size_t{y} * 64 + x) * 4];
      p[0] = 255, p[1] = 0, p[2] = 0;
    }
  ColourConverter c;
  const Converted out = convert(c, img, PackedFormat::kBgrx, 64, 16);
  // Average of red (U 90, V 240) and blue (U 240, V 110).
  EXPECT_NEAR(out.at(1, 10, 4), 165, 6);
  EXPECT_NEAR(out.at(2, 10, 4), 175, 6);
}

TEST(ColourConverter, BadInputIsAnError) {
  ColourConverter c;
  auto g = *makeGeometry(abi::PixelFormat::kI420, 64, 48);
  std::vector<std::byte> payload(*framePayloadSize(g));
  std::vector<uint8_t> src(64 * 48 * 4);
  EXPECT_FALSE(c.toI420(PackedFormat::kBgrx, src.data(), 100, 64, 48, payload.data(), g).ok());
  EXPECT_FALSE(c.toI420(PackedFormat::kBgrx, src.data(), 256, 0, 48, payload.data(), g).ok());
  auto nv12 = *makeGeometry(abi::PixelFormat::kNv12, 64, 48);
  EXPECT_FALSE(c.toI420(PackedFormat::kBgrx, src.data(), 256, 64, 48, payload.data(), nv12).ok());
}

TEST(ColourConverter, CostFigures) {
  Image img = solid(1920, 1080, 10, 20, 30, PackedFormat::kBgrx);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 7);
  ColourConverter c;
  Converted out = convert(c, img, PackedFormat::kBgrx, 1920, 1080);
  constexpr int kFrames = 30;
  auto time = [&](uint32_t w, uint32_t h) {
    out.g = *makeGeometry(abi::PixelFormat::kI420, w, h);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kFrames; ++i)
      EXPECT_TRUE(c.toI420(PackedFormat::kBgrx, img.pixels.data(), 1920 * 4, 1920, 1080,
                           out.payload.data(), out.g)
                      .ok());
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
               .count() /
           kFrames;
  };
  const double same = time(1920, 1080);
  const double scaled = time(1280, 720);
  std::printf(
      "[figures] libswscale BGRX->I420 1920x1080: %.0f us/frame; scaled to 1280x720: %.0f "
      "us/frame\n",
      same, scaled);
}

}  // namespace
}  // namespace funkhaus::capture
