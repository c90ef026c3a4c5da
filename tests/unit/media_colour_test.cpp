// The colour policy and ColourConverter: BT.709 limited-range values for known colours in both
// byte orders, I420 and NV12 targets, both engines (funkhaus's kernel + libyuv, libswscale) and
// their agreement on any image, scaling, the cached context, the colour a frame says, bad input,
// and the cost per 1080p frame of each engine side by side.
#include "funkhaus/common/media/colour.h"

#include <gtest/gtest.h>

#include <libyuv/convert_from_argb.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/test/colour_reference.h"

namespace funkhaus::media {
namespace {

using test::bt709;
using test::Yuv;
using Engine = ColourConverter::Engine;

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
  for (Engine engine : {Engine::kFastest, Engine::kSwscale}) {
    for (PixelLayout layout : {PixelLayout::kBgrx, PixelLayout::kXrgb}) {
      for (abi::PixelFormat format : {abi::PixelFormat::kI420, abi::PixelFormat::kNv12}) {
        ColourConverter c(engine);
        for (const auto& k : colours) {
          Packed img = solid(64, 48, k[0], k[1], k[2], layout);
          const Converted out = convert(c, img.image(layout), 64, 48, format);
          const Yuv want = bt709(k[0], k[1], k[2]);
          for (auto [x, y] : {std::pair{0u, 0u}, {63u, 47u}, {20u, 30u}}) {
            SCOPED_TRACE(testing::Message() << "engine " << int(engine) << " layout " << int(layout)
                                            << " format " << int(format) << " colour " << int(k[0])
                                            << "," << int(k[1]) << "," << int(k[2]));
            EXPECT_NEAR(out.y(x, y), want.y, 1);
            EXPECT_NEAR(out.u(x, y), want.u, 1);
            EXPECT_NEAR(out.v(x, y), want.v, 1);
          }
        }
        // libswscale: one geometry, one cached context; the kernel needs none.
        EXPECT_EQ(c.contextsCreated(), engine == Engine::kSwscale ? 1u : 0u);
      }
    }
  }
}

TEST(MediaColour, Bt709IsNotBt601) {
  // Pure green is where the two matrices differ most (BT.601: Y 145, BT.709: Y 173).
  for (Engine engine : {Engine::kFastest, Engine::kSwscale}) {
    ColourConverter c(engine);
    Packed img = solid(16, 16, 0, 255, 0, PixelLayout::kBgrx);
    const Converted out = convert(c, img.image(PixelLayout::kBgrx), 16, 16);
    EXPECT_NEAR(out.y(4, 4), 173, 1) << "engine " << int(engine);
  }
}

TEST(MediaColour, EveryBgrxColourOfAGridIsBt709LimitedWithinOne) {
  // Solid 2x2 blocks of known BGRX colours (R, G, B each 0, 17, ..., 255: 4096 colours, the
  // corners of the cube included) through the default engine: Y, U and V each within 1 of the
  // standard's values, so chroma of a block is the block's colour. 666 pixels wide: 640 for the
  // 32-pixel kernel, 16 for the 16-pixel one, 10 for the scalar one (whichever the CPU has).
  constexpr uint32_t kW = 666, kH = 26, kBlocksPerRow = kW / 2;
  Packed img{kW, kH, std::vector<uint8_t>(size_t{kW} * kH * 4)};
  const auto level = [](uint32_t i) { return static_cast<uint8_t>(i * 17); };
  for (uint32_t y = 0; y < kH; ++y)
    for (uint32_t x = 0; x < kW; ++x) {
      const uint32_t colour = (y / 2 * kBlocksPerRow + x / 2) % 4096;
      uint8_t* p = &img.pixels[(size_t{y} * kW + x) * 4];
      p[0] = level(colour % 16), p[1] = level(colour / 16 % 16), p[2] = level(colour / 256);
      p[3] = static_cast<uint8_t>(x * 31);  // the unused byte must not matter
    }
  ColourConverter c;
  for (abi::PixelFormat format : {abi::PixelFormat::kI420, abi::PixelFormat::kNv12}) {
    const Converted out = convert(c, img.image(PixelLayout::kBgrx), kW, kH, format);
    for (uint32_t y = 0; y < kH; y += 2)
      for (uint32_t x = 0; x < kW; x += 2) {
        const uint8_t* p = &img.pixels[(size_t{y} * kW + x) * 4];
        const Yuv want = bt709(p[2], p[1], p[0]);
        int worst = 0;
        for (int got : {out.y(x, y), out.y(x + 1, y), out.y(x, y + 1), out.y(x + 1, y + 1)})
          worst = std::max(worst, std::abs(got - want.y));
        worst = std::max({worst, std::abs(out.u(x, y) - want.u), std::abs(out.v(x, y) - want.v)});
        ASSERT_LE(worst, 1) << "at " << x << "," << y << " R,G,B " << int(p[2]) << "," << int(p[1])
                            << "," << int(p[0]) << " format " << int(format);
      }
  }
  EXPECT_EQ(c.contextsCreated(), 0u) << "same size: the kernel, not libswscale";
}

TEST(MediaColour, BothEnginesAgreeWithinOne) {
  // Luma on random pixels, chroma on gradients (libswscale's chroma filter reaches beyond the
  // 2x2 block, so on noise the two differ by design; on smooth content they must not), in both
  // byte orders and both targets: the kernel and libswscale give the same picture within 1.
  std::mt19937 rng(15);
  Packed noise{256, 64, std::vector<uint8_t>(256 * 64 * 4)};
  for (auto& b : noise.pixels) b = static_cast<uint8_t>(rng());
  Packed ramp{256, 64, std::vector<uint8_t>(256 * 64 * 4)};
  for (uint32_t y = 0; y < 64; ++y)
    for (uint32_t x = 0; x < 256; ++x) {
      uint8_t* p = &ramp.pixels[(size_t{y} * 256 + x) * 4];
      p[0] = uint8_t(x), p[1] = uint8_t(255 - x), p[2] = uint8_t(y * 4), p[3] = uint8_t(y * 4);
    }
  for (PixelLayout layout : {PixelLayout::kBgrx, PixelLayout::kXrgb}) {
    for (abi::PixelFormat format : {abi::PixelFormat::kI420, abi::PixelFormat::kNv12}) {
      ColourConverter fast(Engine::kFastest), sws(Engine::kSwscale);
      const Converted a = convert(fast, noise.image(layout), 256, 64, format);
      const Converted b = convert(sws, noise.image(layout), 256, 64, format);
      const Converted c = convert(fast, ramp.image(layout), 256, 64, format);
      const Converted d = convert(sws, ramp.image(layout), 256, 64, format);
      int worst_y = 0, worst_c = 0;
      for (uint32_t y = 0; y < 64; ++y)
        for (uint32_t x = 0; x < 256; ++x) {
          worst_y =
              std::max({worst_y, std::abs(a.y(x, y) - b.y(x, y)), std::abs(c.y(x, y) - d.y(x, y))});
          // Edges aside: there libswscale's filter sees fewer pixels.
          if (x < 2 || x >= 254 || y < 2 || y >= 62) continue;
          worst_c =
              std::max({worst_c, std::abs(c.u(x, y) - d.u(x, y)), std::abs(c.v(x, y) - d.v(x, y))});
        }
      EXPECT_LE(worst_y, 1) << "layout " << int(layout) << " format " << int(format);
      EXPECT_LE(worst_c, 1) << "layout " << int(layout) << " format " << int(format);
    }
  }
}

TEST(MediaColour, YuvLayoutChangesKeepTheSamples) {
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
  for (Engine engine : {Engine::kFastest, Engine::kSwscale}) {
    ColourConverter c(engine);
    const Converted nv12 = convert(c, *src, 32, 16, abi::PixelFormat::kNv12);
    Converted nv12_copy = nv12;
    const Converted i420 = convert(c, *imageOf(nv12_copy.g, nv12_copy.payload.data()), 32, 16);
    for (const Converted* out : {&nv12, &i420})
      for (uint32_t x = 0; x < 32; x += 5) {
        EXPECT_EQ(out->y(x, 3), int(16 + x)) << "engine " << int(engine);
        EXPECT_EQ(out->u(x, 3), int(100 + x / 2)) << "engine " << int(engine);
        EXPECT_EQ(out->v(x, 3), int(200 - x / 2)) << "engine " << int(engine);
      }
  }
}

TEST(MediaColour, ScalesAndRebuildsItsContextOnlyOnGeometryChanges) {
  ColourConverter c(Engine::kSwscale);
  Packed big = solid(640, 480, 255, 0, 0, PixelLayout::kBgrx);
  const Yuv red = bt709(255, 0, 0);
  Converted half = convert(c, big.image(PixelLayout::kBgrx), 320, 240);
  EXPECT_NEAR(half.y(100, 100), red.y, 1);
  EXPECT_NEAR(half.v(100, 100), red.v, 1);
  convert(c, big.image(PixelLayout::kBgrx), 320, 240);
  EXPECT_EQ(c.contextsCreated(), 1u);
  convert(c, big.image(PixelLayout::kBgrx), 640, 480);
  EXPECT_EQ(c.contextsCreated(), 2u);
  // The default engine scales with libswscale too, and converts at the same size without it.
  ColourConverter fast;
  half = convert(fast, big.image(PixelLayout::kBgrx), 320, 240);
  EXPECT_NEAR(half.y(100, 100), red.y, 1);
  EXPECT_EQ(fast.contextsCreated(), 1u);
  convert(fast, big.image(PixelLayout::kBgrx), 640, 480);
  EXPECT_EQ(fast.contextsCreated(), 1u);
}

TEST(MediaColour, ChromaIsTheAverageOfEachTwoByTwoBlock) {
  // Columns alternate red and blue: chroma must blend them, not pick one.
  Packed img = solid(64, 16, 255, 0, 0, PixelLayout::kBgrx);
  for (uint32_t y = 0; y < 16; ++y)
    for (uint32_t x = 1; x < 64; x += 2) {
      uint8_t* p = &img.pixels[(size_t{y} * 64 + x) * 4];
      p[0] = 255, p[1] = 0, p[2] = 0;
    }
  const Yuv red = bt709(255, 0, 0), blue = bt709(0, 0, 255);
  for (Engine engine : {Engine::kFastest, Engine::kSwscale}) {
    ColourConverter c(engine);
    const Converted out = convert(c, img.image(PixelLayout::kBgrx), 64, 16);
    EXPECT_NEAR(out.u(20, 8), (red.u + blue.u) / 2, 6) << "engine " << int(engine);
    EXPECT_NEAR(out.v(20, 8), (red.v + blue.v) / 2, 6) << "engine " << int(engine);
  }
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
  // Side by side in one run on the same 1080p BGRX frame: libswscale (the engine before issue
  // 15), the default engine, and libyuv's own ARGBToI420 (BT.601: the wrong matrix for the
  // policy, so not used; its figure says what SIMD could do here).
  Packed img = solid(1920, 1080, 10, 20, 30, PixelLayout::kBgrx);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 7);
  constexpr int kFrames = 30;
  const auto timed = [&](const auto& once) {
    once();  // warm: contexts, page faults
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kFrames; ++i) once();
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
               .count() /
           kFrames;
  };
  const auto time = [&](Engine engine, uint32_t w, uint32_t h, abi::PixelFormat format) {
    ColourConverter c(engine);
    Converted out{*makeGeometry(format, w, h), {}};
    out.payload.resize(*framePayloadSize(out.g));
    auto target = imageOf(out.g, out.payload.data());
    return timed([&] { EXPECT_TRUE(c.convert(img.image(PixelLayout::kBgrx), *target).ok()); });
  };
  const double sws_i420 = time(Engine::kSwscale, 1920, 1080, abi::PixelFormat::kI420);
  const double fast_i420 = time(Engine::kFastest, 1920, 1080, abi::PixelFormat::kI420);
  const double sws_nv12 = time(Engine::kSwscale, 1920, 1080, abi::PixelFormat::kNv12);
  const double fast_nv12 = time(Engine::kFastest, 1920, 1080, abi::PixelFormat::kNv12);
  const double scaled = time(Engine::kFastest, 1280, 720, abi::PixelFormat::kI420);
  Converted out{*makeGeometry(abi::PixelFormat::kI420, 1920, 1080), {}};
  out.payload.resize(*framePayloadSize(out.g));
  auto t = *imageOf(out.g, out.payload.data());
  const double yuv601 = timed([&] {
    libyuv::ARGBToI420(img.pixels.data(), 1920 * 4, t.planes[0], int(t.strides[0]), t.planes[1],
                       int(t.strides[1]), t.planes[2], int(t.strides[2]), 1920, 1080);
  });
  std::printf(
      "[figures] BGRX->I420 1920x1080: libswscale %.0f us/frame, funkhaus BT.709 kernel %.0f "
      "us/frame (%.1fx faster); libyuv ARGBToI420 (BT.601, not used) %.0f us/frame\n"
      "[figures] BGRX->NV12 1920x1080: libswscale %.0f us/frame, funkhaus BT.709 kernel %.0f "
      "us/frame (%.1fx faster); scaled to 1280x720 (libswscale): %.0f us/frame\n",
      sws_i420, fast_i420, sws_i420 / fast_i420, yuv601, sws_nv12, fast_nv12, sws_nv12 / fast_nv12,
      scaled);
}

}  // namespace
}  // namespace funkhaus::media
