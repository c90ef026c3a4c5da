// Barcode round trips on raw frames, and damaged or missing barcodes giving errors.
#include "funkhaus/capture/barcode.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace funkhaus::capture {
namespace {

struct Plane {
  uint32_t width, height, stride;
  std::vector<uint8_t> bytes;
  Plane(uint32_t w, uint32_t h, uint32_t s, uint8_t fill = 128)
      : width(w), height(h), stride(s), bytes(size_t{s} * h, fill) {}
  uint8_t* data() { return bytes.data(); }
};

TEST(BarcodeLayout, BlocksFollowTheWidthOnTheCodecGrid) {
  EXPECT_EQ(barcodeLayout(1920, 1080)->block, 32u);
  EXPECT_EQ(barcodeLayout(1280, 720)->block, 16u);
  EXPECT_EQ(barcodeLayout(640, 360)->block, 8u);
  EXPECT_EQ(barcodeLayout(320, 180)->block, 8u);
  EXPECT_EQ(barcodeLayout(3840, 2160)->block, 64u);
  EXPECT_EQ(barcodeLayout(128, 72)->block, 4u);
  for (uint32_t w : {256u, 320u, 640u, 1280u, 1920u, 2560u, 3840u})
    EXPECT_EQ(barcodeLayout(w, 2160)->block % 8, 0u) << w;
  const auto hd = barcodeLayout(1920, 1080);
  EXPECT_EQ(hd->band_width, 32u * 32);
  EXPECT_EQ(hd->band_height, 6u * 32);
}

TEST(BarcodeLayout, TooSmallFramesAreRefused) {
  EXPECT_FALSE(barcodeLayout(63, 100).ok());
  EXPECT_FALSE(barcodeLayout(320, 47).ok());
  EXPECT_TRUE(barcodeLayout(320, 48).ok());
  EXPECT_TRUE(barcodeLayout(64, 12).ok());
  Plane p(32, 32, 32);
  auto stamped = stampBarcode(p.data(), p.stride, p.width, p.height, {1, 2});
  ASSERT_FALSE(stamped.ok());
  EXPECT_NE(stamped.error().message.find("too narrow"), std::string::npos)
      << stamped.error().message;
  EXPECT_FALSE(readBarcode(p.data(), p.stride, p.width, p.height).ok());
}

struct Size {
  uint32_t width, height, stride;
};

class BarcodeRoundTrip : public ::testing::TestWithParam<Size> {};

TEST_P(BarcodeRoundTrip, EdgeValuesReadBackExactly) {
  const Size s = GetParam();
  const BarcodeData values[] = {
      {0, 0},
      {1, 1},
      {uint64_t{1} << 40, 123'456'789'012'345},
      {(uint64_t{1} << 40) - 1, UINT64_MAX},
      {UINT64_MAX, UINT64_MAX},
      {0x0123456789ABCDEF, 0xFEDCBA9876543210},
  };
  for (const BarcodeData& v : values) {
    Plane p(s.width, s.height, s.stride, 77);
    ASSERT_TRUE(stampBarcode(p.data(), p.stride, p.width, p.height, v).ok());
    auto read = readBarcode(p.data(), p.stride, p.width, p.height);
    ASSERT_TRUE(read.ok()) << read.error().message;
    EXPECT_EQ(*read, v) << s.width << "x" << s.height;
  }
}

TEST_P(BarcodeRoundTrip, OnlyTheBandIsTouched) {
  const Size s = GetParam();
  Plane p(s.width, s.height, s.stride, 99);
  ASSERT_TRUE(stampBarcode(p.data(), p.stride, p.width, p.height, {7, 8}).ok());
  const auto layout = barcodeLayout(s.width, s.height);
  for (uint32_t y = 0; y < s.height; ++y)
    for (uint32_t x = 0; x < s.stride; ++x) {
      const uint8_t v = p.bytes[size_t{y} * s.stride + x];
      if (x < layout->band_width && y < layout->band_height)
        ASSERT_TRUE(v == kBarcodeBlack || v == kBarcodeWhite) << x << "," << y;
      else
        ASSERT_EQ(v, 99) << x << "," << y;
    }
}

INSTANTIATE_TEST_SUITE_P(Sizes, BarcodeRoundTrip,
                         ::testing::Values(Size{1920, 1080, 1920}, Size{1920, 1080, 1984},
                                           Size{1280, 720, 1280}, Size{640, 360, 704},
                                           Size{320, 180, 320}, Size{322, 182, 384},
                                           Size{64, 12, 64}),
                         [](const auto& p) {
                           return std::to_string(p.param.width) + "x" +
                                  std::to_string(p.param.height) + "_stride" +
                                  std::to_string(p.param.stride);
                         });

TEST(Barcode, FullRangeAndDimmedFramesStillRead) {
  // A decoder path that expands limited range to full range (gray output), or a dim one.
  Plane p(640, 360, 640);
  const BarcodeData v{4242, 99'999'999'999};
  ASSERT_TRUE(stampBarcode(p.data(), p.stride, p.width, p.height, v).ok());
  Plane full = p, dim = p;
  for (auto& b : full.bytes) b = static_cast<uint8_t>(std::clamp((b - 16) * 255 / 219, 0, 255));
  for (auto& b : dim.bytes) b = static_cast<uint8_t>(60 + b / 3);
  EXPECT_EQ(*readBarcode(full.data(), full.stride, full.width, full.height), v);
  EXPECT_EQ(*readBarcode(dim.data(), dim.stride, dim.width, dim.height), v);
}

TEST(Barcode, NoisyBlocksStillRead) {
  Plane p(1920, 1080, 1920);
  const BarcodeData v{987654321, 1'700'000'000'123'456'789};
  ASSERT_TRUE(stampBarcode(p.data(), p.stride, p.width, p.height, v).ok());
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> noise(-40, 40);
  for (auto& b : p.bytes) b = static_cast<uint8_t>(std::clamp(b + noise(rng), 0, 255));
  auto read = readBarcode(p.data(), p.stride, p.width, p.height);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, v);
}

TEST(Barcode, BlankFramesAreErrors) {
  for (uint8_t fill : {0, 16, 128, 235, 255}) {
    Plane p(1280, 720, 1280, fill);
    auto read = readBarcode(p.data(), p.stride, p.width, p.height);
    ASSERT_FALSE(read.ok()) << int(fill);
    EXPECT_NE(read.error().message.find("no barcode"), std::string::npos) << read.error().message;
  }
}

TEST(Barcode, RandomFramesAreErrors) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    Plane p(320, 180, 320);
    // Random blocks of the barcode's own size and levels: the hardest kind of garbage.
    const uint32_t b = barcodeLayout(320, 180)->block;
    std::vector<uint8_t> cells(size_t{p.width / b + 1} * (p.height / b + 1));
    for (auto& c : cells) c = (rng() & 1) ? kBarcodeWhite : kBarcodeBlack;
    for (uint32_t y = 0; y < p.height; ++y)
      for (uint32_t x = 0; x < p.width; ++x)
        p.bytes[size_t{y} * p.stride + x] = cells[(y / b) * (p.width / b + 1) + x / b];
    EXPECT_FALSE(readBarcode(p.data(), p.stride, p.width, p.height).ok()) << i;
  }
}

TEST(Barcode, EveryFlippedBlockIsAnError) {
  Plane clean(320, 180, 320);
  const BarcodeData v{123, 456};
  ASSERT_TRUE(stampBarcode(clean.data(), clean.stride, clean.width, clean.height, v).ok());
  const uint32_t b = barcodeLayout(320, 180)->block;
  for (uint32_t cell = 0; cell < kBarcodeColumns * kBarcodeRows; ++cell) {
    Plane p = clean;
    const uint32_t x0 = cell % kBarcodeColumns * b, y0 = cell / kBarcodeColumns * b;
    for (uint32_t y = y0; y < y0 + b; ++y)
      for (uint32_t x = x0; x < x0 + b; ++x) {
        uint8_t& px = p.bytes[size_t{y} * p.stride + x];
        px = px == kBarcodeWhite ? kBarcodeBlack : kBarcodeWhite;
      }
    auto read = readBarcode(p.data(), p.stride, p.width, p.height);
    EXPECT_FALSE(read.ok()) << "flipping block " << cell << " read as " << read->frame_number;
  }
}

TEST(Barcode, AmbiguousBlocksAreErrorsNotGuesses) {
  Plane p(640, 360, 640);
  ASSERT_TRUE(stampBarcode(p.data(), p.stride, p.width, p.height, {5, 6}).ok());
  // Block 40 (a payload block) at mid-grey.
  const uint32_t b = barcodeLayout(640, 360)->block;
  const uint32_t x0 = 40 % kBarcodeColumns * b, y0 = 40 / kBarcodeColumns * b;
  for (uint32_t y = y0; y < y0 + b; ++y)
    for (uint32_t x = x0; x < x0 + b; ++x) p.bytes[size_t{y} * p.stride + x] = 126;
  auto read = readBarcode(p.data(), p.stride, p.width, p.height);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.error().message.find("ambiguous"), std::string::npos) << read.error().message;
}

TEST(Barcode, ShiftedOrWrongSizeBarcodesAreErrors) {
  Plane p(640, 360, 640);
  ASSERT_TRUE(stampBarcode(p.data(), p.stride, p.width, p.height, {5, 6}).ok());
  // Read as if the frame were 1280 wide (bigger blocks): the layout no longer matches.
  Plane wide(1280, 360, 1280);
  for (uint32_t y = 0; y < 360; ++y)
    std::copy_n(p.bytes.begin() + y * 640, 640, wide.bytes.begin() + y * 1280);
  EXPECT_FALSE(readBarcode(wide.data(), wide.stride, wide.width, wide.height).ok());
  // Shifted right by one block.
  const uint32_t b = barcodeLayout(640, 360)->block;
  Plane shifted(640, 360, 640);
  for (uint32_t y = 0; y < 360; ++y)
    std::copy_n(p.bytes.begin() + y * 640, 640 - b, shifted.bytes.begin() + y * 640 + b);
  EXPECT_FALSE(readBarcode(shifted.data(), shifted.stride, shifted.width, shifted.height).ok());
}

TEST(Barcode, BadArgumentsAreErrors) {
  Plane p(640, 360, 640);
  EXPECT_FALSE(readBarcode(nullptr, 640, 640, 360).ok());
  EXPECT_FALSE(readBarcode(p.data(), 600, 640, 360).ok());
  EXPECT_FALSE(stampBarcode(p.data(), 600, 640, 360, {1, 1}).ok());
}

}  // namespace
}  // namespace funkhaus::capture
