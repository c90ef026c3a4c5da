// The colour policy and ColourConverter: BT.709 limited-range values for known colours in both
// byte orders, I420 and NV12 targets, scaling, the cached context, the colour a frame says,
// bad input, and its cost per 1080p frame.
#include "funkhaus/common/media/colour.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/test/colour_reference.h"

namespace funkhaus::media {
namespace {

using test::bt709;
using test::Yuv;

struct Packed {
  uint32_t width, height;
  std::vector<uint8_t> pixels;
  Image image(PixelLayout layout) {
    return Image{layout, width, height, {pixels.data()}, {width * 4}};
  }
};

Packed solid(uint32_t w, uint32_t h, uint8_t r, uint8_t g, uint8_t b, PixelLayout layout) {
  Packed img{w, h, std::vector<uint8_t>(size_t{w} * h * 4)};
  for (size_t i = 0; i < size_t{w} * h; ++i) {
    uint8_t* p = &img.pixels[i * 4];
    if (layout == PixelLayout::kBgrx) {
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
  int y(uint32_t x, uint32_t row) const { return at(0, x, row); }
  int u(uint32_t x, uint32_t row) const {
    return g.format == static_cast<uint32_t>(abi::PixelFormat::kNv12) ? at(1, x / 2 * 2, row / 2)
                                                                      : at(1, x / 2, row / 2);
  }
  int v(uint32_t x, uint32_t row) const {
    return g.format == static_cast<uint32_t>(abi::PixelFormat::kNv12)
               ? at(1, x / 2 * 2 + 1, row / 2)
               : at(2, x / 2, row / 2);
  }
  int at(int plane, uint32_t x, uint32_t row) const {
    return static_cast<int>(payload[g.plane_offset[plane] + size_t{row} * g.stride[plane] + x]);
  }
};

Converted convert(ColourConverter& c, const Image& src, uint32_t out_w, uint32_t out_h,
                  abi::PixelFormat format = abi::PixelFormat::kI420) {
  Converted out{*makeGeometry(format, out_w, out_h), {}};
  out.payload.resize(*framePayloadSize(out.g));
  auto target = imageOf(out.g, out.payload.data());
  EXPECT_TRUE(target.ok());
  auto r = c.convert(src, *target);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return out;
}

TEST(MediaColour, KnownColoursInBothByteOrdersToI420AndNv12) {
  const uint8_t colours[][3] = {{0, 0, 0},   {255, 255, 255}, {255, 0, 0},    {0, 255, 0},
                                {0, 0, 255}, {128, 128, 128}, {200, 100, 50}, {16, 180, 240}};
  for (PixelLayout layout : {PixelLayout::kBgrx, PixelLayout::kXrgb}) {
    for (abi::PixelFormat format : {abi::PixelFormat::kI420, abi::PixelFormat::kNv12}) {
      ColourConverter c;
      for (const auto& k : colours) {
        Packed img = solid(64, 48, k[0], k[1], k[2], layout);
        const Converted out = convert(c, img.image(layout), 64, 48, format);
        const Yuv want = bt709(k[0], k[1], k[2]);
        for (auto [x, y] : {std::pair{0u, 0u}, {63u, 47u}, {20u, 30u}}) {
          EXPECT_NEAR(out.y(x, y), want.y, 1) << int(k[0]) << "," << int(k[1]) << "," << int(k[2]);
          EXPECT_NEAR(out.u(x, y), want.u, 1) << int(k[0]) << "," << int(k[1]) << "," << int(k[2]);
          EXPECT_NEAR(out.v(x, y), want.v, 1) << int(k[0]) << "," << int(k[1]) << "," << int(k[2]);
        }
      }
      EXPECT_EQ(c.contextsCreated(), 1u) << "one geometry, one cached context";
    }
  }
}

TEST(MediaColour, Bt709IsNotBt601) {
  // Pure green is where the two matrices differ most (BT.601: Y 145, BT.709: Y 173).
  ColourConverter c;
  Packed img = solid(16, 16, 0, 255, 0, PixelLayout::kBgrx);
  const Converted out = convert(c, img.image(PixelLayout::kBgrx), 16, 16);
  EXPECT_NEAR(out.y(4, 4), 173, 1);
}

TEST(MediaColour, I420ToNv12KeepsTheSamples) {
  auto g = *makeGeometry(abi::PixelFormat::kI420, 32, 16);
  std::vector<std::byte> payload(*framePayloadSize(g));
  auto src = imageOf(g, payload.data());
  ASSERT_TRUE(src.ok());
  for (uint32_t y = 0; y < 16; ++y)
    for (uint32_t x = 0; x < 32; ++x) src->planes[0][y * src->strides[0] + x] = uint8_t(16 + x);
  for (uint32_t y = 0; y < 8; ++y)
    for (uint32_t x = 0; x < 16; ++x) {
      src->planes[1][y * src->strides[1] + x] = uint8_t(100 + x);
      src->planes[2][y * src->strides[2] + x] = uint8_t(200 - x);
    }
  ColourConverter c;
  const Converted out = convert(c, *src, 32, 16, abi::PixelFormat::kNv12);
  for (uint32_t x = 0; x < 32; x += 5) {
    EXPECT_EQ(out.y(x, 3), int(16 + x));
    EXPECT_EQ(out.u(x, 3), int(100 + x / 2));
    EXPECT_EQ(out.v(x, 3), int(200 - x / 2));
  }
}

TEST(MediaColour, ScalesAndRebuildsItsContextOnlyOnGeometryChanges) {
  ColourConverter c;
  Packed big = solid(640, 480, 255, 0, 0, PixelLayout::kBgrx);
  const Yuv red = bt709(255, 0, 0);
  Converted half = convert(c, big.image(PixelLayout::kBgrx), 320, 240);
  EXPECT_NEAR(half.y(100, 100), red.y, 1);
  EXPECT_NEAR(half.v(100, 100), red.v, 1);
  convert(c, big.image(PixelLayout::kBgrx), 320, 240);
  EXPECT_EQ(c.contextsCreated(), 1u);
  convert(c, big.image(PixelLayout::kBgrx), 640, 480);
  EXPECT_EQ(c.contextsCreated(), 2u);
}

TEST(MediaColour, ChromaIsTheAverageOfEachTwoByTwoBlock) {
  // Columns alternate red and blue: chroma must blend them, not pick one.
  Packed img = solid(64, 16, 255, 0, 0, PixelLayout::kBgrx);
  for (uint32_t y = 0; y < 16; ++y)
    for (uint32_t x = 1; x < 64; x += 2) {
      uint8_t* p = &img.pixels[(size_t{y} * 64 + x) * 4];
      p[0] = 255, p[1] = 0, p[2] = 0;
    }
  ColourConverter c;
  const Converted out = convert(c, img.image(PixelLayout::kBgrx), 64, 16);
  const Yuv red = bt709(255, 0, 0), blue = bt709(0, 0, 255);
  EXPECT_NEAR(out.u(20, 8), (red.u + blue.u) / 2, 6);
  EXPECT_NEAR(out.v(20, 8), (red.v + blue.v) / 2, 6);
}

TEST(MediaColour, TheColourAFrameSays) {
  using abi::ColourSpace;
  using abi::PixelFormat;
  EXPECT_EQ(policyColourSpace(PixelFormat::kBgra), ColourSpace::kSrgb);
  EXPECT_EQ(policyColourSpace(PixelFormat::kI420), ColourSpace::kBt709Limited);
  EXPECT_EQ(policyColourSpace(PixelFormat::kNv12), ColourSpace::kBt709Limited);
  // Unspecified: the policy of the format.
  EXPECT_EQ(*frameColourSpace(PixelFormat::kI420, 0), ColourSpace::kBt709Limited);
  EXPECT_EQ(*frameColourSpace(PixelFormat::kBgra, 0), ColourSpace::kSrgb);
  EXPECT_EQ(*frameColourSpace(PixelFormat::kNv12, uint32_t(ColourSpace::kBt709Limited)),
            ColourSpace::kBt709Limited);
  // A colour the format cannot have, or one that does not exist.
  auto wrong = frameColourSpace(PixelFormat::kI420, uint32_t(ColourSpace::kSrgb));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("says colour space 1"), std::string::npos);
  EXPECT_FALSE(frameColourSpace(PixelFormat::kBgra, uint32_t(ColourSpace::kBt709Limited)).ok());
  EXPECT_FALSE(frameColourSpace(PixelFormat::kI420, 77).ok());
}

TEST(MediaColour, BadInputIsAnError) {
  ColourConverter c;
  auto g = *makeGeometry(abi::PixelFormat::kI420, 64, 48);
  std::vector<std::byte> payload(*framePayloadSize(g));
  auto target = imageOf(g, payload.data());
  ASSERT_TRUE(target.ok());
  std::vector<uint8_t> src(64 * 48 * 4);
  auto narrow = c.convert(Image{PixelLayout::kBgrx, 64, 48, {src.data()}, {100}}, *target);
  ASSERT_FALSE(narrow.ok());
  EXPECT_NE(narrow.error().message.find("stride 100 is too small"), std::string::npos)
      << narrow.error().message;
  EXPECT_FALSE(c.convert(Image{PixelLayout::kBgrx, 0, 48, {src.data()}, {256}}, *target).ok());
  EXPECT_FALSE(c.convert(Image{PixelLayout::kBgrx, 64, 48, {nullptr}, {256}}, *target).ok());
  // YUV -> RGB is not a conversion funkhaus makes.
  auto back = c.convert(*target, Image{PixelLayout::kBgrx, 64, 48, {src.data()}, {256}});
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().message.find("I420 -> BGRx"), std::string::npos) << back.error().message;
  // Odd YUV sizes, unknown formats.
  auto odd = *target;
  odd.width = 63;
  EXPECT_FALSE(c.convert(Image{PixelLayout::kBgrx, 64, 48, {src.data()}, {256}}, odd).ok());
  abi::FrameGeometry unknown = g;
  unknown.format = 9;
  EXPECT_FALSE(imageOf(unknown, payload.data()).ok());
}

TEST(MediaColour, CostFigures) {
  Packed img = solid(1920, 1080, 10, 20, 30, PixelLayout::kBgrx);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 7);
  ColourConverter c;
  constexpr int kFrames = 30;
  auto time = [&](uint32_t w, uint32_t h, abi::PixelFormat format) {
    Converted out{*makeGeometry(format, w, h), {}};
    out.payload.resize(*framePayloadSize(out.g));
    auto target = imageOf(out.g, out.payload.data());
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kFrames; ++i)
      EXPECT_TRUE(c.convert(img.image(PixelLayout::kBgrx), *target).ok());
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
               .count() /
           kFrames;
  };
  const double same = time(1920, 1080, abi::PixelFormat::kI420);
  const double scaled = time(1280, 720, abi::PixelFormat::kI420);
  const double nv12 = time(1920, 1080, abi::PixelFormat::kNv12);
  std::printf(
      "[figures] ColourConverter BGRX->I420 1920x1080: %.0f us/frame; scaled to 1280x720: %.0f "
      "us/frame; BGRX->NV12 1920x1080: %.0f us/frame\n",
      same, scaled, nv12);
}

}  // namespace
}  // namespace funkhaus::media
