// Annex-B parser tests: start codes of both lengths, NAL types of both codecs, malformed input.
#include "funkhaus/encode/annexb.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

namespace funkhaus::encode {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(AnnexBTest, H264IdrWithParameterSets) {
  // AUD (9), SPS (7), PPS (8), IDR slice (5); 4- and 3-byte start codes; trailing zero byte.
  const auto au = bytes({0, 0, 0, 1,    0x09, 0xf0, 0,    0, 0, 1, 0x67, 0x64, 0x00, 0x1f,
                         0, 0, 1, 0x68, 0xee, 0x3c, 0x80, 0, 0, 1, 0x65, 0x88, 0x84, 0x00});
  auto info = parseAccessUnit(Codec::kH264, au);
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_EQ(info->nals.size(), 4u);
  EXPECT_EQ(info->nals[0].type, 9u);
  EXPECT_EQ(info->nals[1].type, 7u);
  EXPECT_EQ(info->nals[1].data.size(), 4u);
  EXPECT_EQ(info->nals[2].type, 8u);
  EXPECT_EQ(info->nals[3].type, 5u);
  EXPECT_EQ(info->nals[3].data.size(), 3u) << "trailing zero bytes are not part of the NAL unit";
  EXPECT_TRUE(info->idr && info->sps && info->pps && info->slices);
  EXPECT_TRUE(info->decodableAlone(Codec::kH264));
}

TEST(AnnexBTest, H264NonIdrSlice) {
  auto info = parseAccessUnit(Codec::kH264, bytes({0, 0, 1, 0x41, 0x9a, 0x02}));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->nals[0].type, 1u);
  EXPECT_FALSE(info->idr);
  EXPECT_TRUE(info->slices);
  EXPECT_FALSE(info->decodableAlone(Codec::kH264));
}

TEST(AnnexBTest, HevcIdrNeedsVpsSpsPps) {
  // VPS 32 (0x40), SPS 33 (0x42), PPS 34 (0x44), IDR_W_RADL 19 (0x26); 2-byte headers.
  const auto au = bytes({0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 0, 1, 0x42, 0x01, 0x01,
                         0, 0, 0, 1, 0x44, 0x01, 0xc1, 0, 0, 0, 1, 0x26, 0x01, 0xaf});
  auto info = parseAccessUnit(Codec::kHevc, au);
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_EQ(info->nals.size(), 4u);
  EXPECT_EQ(info->nals[0].type, 32u);
  EXPECT_EQ(info->nals[3].type, 19u);
  EXPECT_TRUE(info->decodableAlone(Codec::kHevc));
  // Without the VPS it is not decodable alone.
  auto no_vps = parseAccessUnit(Codec::kHevc, std::span(au).subspan(7));
  ASSERT_TRUE(no_vps);
  EXPECT_FALSE(no_vps->decodableAlone(Codec::kHevc));
  // TRAIL_R (1): a slice, not IDR.
  auto trail = parseAccessUnit(Codec::kHevc, bytes({0, 0, 1, 0x02, 0x01, 0xd0}));
  ASSERT_TRUE(trail);
  EXPECT_FALSE(trail->idr);
  EXPECT_TRUE(trail->slices);
}

TEST(AnnexBTest, MalformedInputIsAnErrorNotACrash) {
  struct Case {
    Codec codec;
    std::vector<std::byte> data;
    const char* needle;
  };
  const Case cases[] = {
      {Codec::kH264, {}, "start code"},
      {Codec::kH264, bytes({0x65, 0x88}), "start code"},
      {Codec::kH264, bytes({0, 0, 1}), "empty"},
      {Codec::kH264, bytes({0, 0, 1, 0, 0, 1, 0x65}), "empty"},
      {Codec::kH264, bytes({0, 0, 1, 0xe5, 0x01}), "forbidden"},
      {Codec::kH264, bytes({0, 0, 1, 0x65, 0x01, 0, 0, 1}), "ends the data"},
      {Codec::kHevc, bytes({0, 0, 1, 0x26}), "shorter"},
      {static_cast<Codec>(9), bytes({0, 0, 1, 0x65}), "codec"},
  };
  for (const Case& c : cases) {
    auto info = parseAccessUnit(c.codec, c.data);
    ASSERT_FALSE(info) << c.needle;
    EXPECT_NE(info.error().message.find(c.needle), std::string::npos) << info.error().message;
  }
}

}  // namespace
}  // namespace funkhaus::encode
