// Annex-B splitting, NAL types and parameter sets.
#include "funkhaus/net/nal_units.h"

#include <gtest/gtest.h>

#include <vector>

namespace funkhaus::net {
namespace {

std::vector<std::vector<uint8_t>> split(const std::vector<uint8_t>& stream) {
  std::vector<NalUnit> nals;
  splitAnnexB(stream, nals);
  std::vector<std::vector<uint8_t>> out;
  for (NalUnit n : nals) out.emplace_back(n.begin(), n.end());
  return out;
}

TEST(NalUnits, SplitsThreeAndFourByteStartCodes) {
  const std::vector<uint8_t> stream = {0, 0, 0,    1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0,
                                       0, 1, 0x65, 4, 5,    6, 0, 0, 0, 1, 0x41, 7};
  const auto nals = split(stream);
  ASSERT_EQ(nals.size(), 4u);
  EXPECT_EQ(nals[0], (std::vector<uint8_t>{0x67, 1, 2}));
  EXPECT_EQ(nals[1], (std::vector<uint8_t>{0x68, 3}));
  EXPECT_EQ(nals[2], (std::vector<uint8_t>{0x65, 4, 5, 6}));  // the 4-byte code's zero dropped
  EXPECT_EQ(nals[3], (std::vector<uint8_t>{0x41, 7}));
}

TEST(NalUnits, DropsLeadingGarbageTrailingZerosAndEmptyUnits) {
  const std::vector<uint8_t> stream = {9, 9, 0, 0, 1, 0, 0, 1, 0x65, 1, 0, 0, 0, 0};
  const auto nals = split(stream);
  ASSERT_EQ(nals.size(), 1u);
  EXPECT_EQ(nals[0], (std::vector<uint8_t>{0x65, 1}));
  EXPECT_TRUE(split({}).empty());
  EXPECT_TRUE(split({0, 0, 1}).empty());
  EXPECT_TRUE(split({1, 2, 3, 4}).empty());
}

TEST(NalUnits, KeepsEmulationPreventionBytes) {
  // 00 00 03 inside a unit is not a start code.
  const auto nals = split({0, 0, 1, 0x65, 0, 0, 3, 1, 0xAA});
  ASSERT_EQ(nals.size(), 1u);
  EXPECT_EQ(nals[0].size(), 6u);
}

TEST(NalUnits, TypesAndKeyframes) {
  const uint8_t idr[] = {0x65, 0};
  const uint8_t p[] = {0x41, 0};
  const uint8_t aud[] = {0x09, 0xF0};
  EXPECT_EQ(nalType(Codec::kH264, idr), 5);
  EXPECT_TRUE(isKeyframeNal(Codec::kH264, idr));
  EXPECT_FALSE(isKeyframeNal(Codec::kH264, p));
  EXPECT_TRUE(isAccessUnitDelimiter(Codec::kH264, aud));
  // HEVC: type in bits 1..6 of the first byte; IDR_W_RADL = 19, CRA = 21, TRAIL_R = 1.
  const uint8_t hevc_idr[] = {19 << 1, 1};
  const uint8_t hevc_cra[] = {21 << 1, 1};
  const uint8_t hevc_trail[] = {1 << 1, 1};
  const uint8_t hevc_aud[] = {35 << 1, 1};
  EXPECT_EQ(nalType(Codec::kHevc, hevc_idr), 19);
  EXPECT_TRUE(isKeyframeNal(Codec::kHevc, hevc_idr));
  EXPECT_TRUE(isKeyframeNal(Codec::kHevc, hevc_cra));
  EXPECT_FALSE(isKeyframeNal(Codec::kHevc, hevc_trail));
  EXPECT_TRUE(isAccessUnitDelimiter(Codec::kHevc, hevc_aud));
  EXPECT_EQ(nalType(Codec::kHevc, std::span<const uint8_t>(hevc_idr, 1)), -1);
  EXPECT_EQ(nalType(Codec::kH264, {}), -1);
}

TEST(NalUnits, ParameterSetsUpdateAndCodecChange) {
  const std::vector<uint8_t> sps = {0x67, 0x42, 0xC0, 0x1F, 1};
  const std::vector<uint8_t> pps = {0x68, 0xCE};
  std::vector<NalUnit> nals = {sps, pps};
  ParameterSets sets;
  EXPECT_TRUE(updateParameterSets(Codec::kH264, nals, 1016, sets));
  EXPECT_TRUE(sets.complete());
  EXPECT_EQ(sets.sps, sps);
  EXPECT_FALSE(updateParameterSets(Codec::kH264, nals, 1016, sets)) << "nothing changed";
  const std::vector<uint8_t> pps2 = {0x68, 0xCF};
  std::vector<NalUnit> more = {pps2};
  EXPECT_TRUE(updateParameterSets(Codec::kH264, more, 1016, sets));
  EXPECT_EQ(sets.pps, pps2);
  // Too large: ignored.
  std::vector<uint8_t> big(2000, 0x11);
  big[0] = 0x67;
  std::vector<NalUnit> large = {big};
  EXPECT_FALSE(updateParameterSets(Codec::kH264, large, 1016, sets));
  // HEVC needs the VPS as well; a codec change drops the old sets.
  const std::vector<uint8_t> vps = {32 << 1, 1, 0xAA}, hsps = {33 << 1, 1, 0xBB},
                             hpps = {34 << 1, 1, 0xCC};
  std::vector<NalUnit> hevc_partial = {hsps, hpps};
  EXPECT_TRUE(updateParameterSets(Codec::kHevc, hevc_partial, 1016, sets));
  EXPECT_EQ(sets.codec, Codec::kHevc);
  EXPECT_FALSE(sets.complete());
  std::vector<NalUnit> hevc_vps = {vps};
  EXPECT_TRUE(updateParameterSets(Codec::kHevc, hevc_vps, 1016, sets));
  EXPECT_TRUE(sets.complete());
}

TEST(NalUnits, CodecFromRecord) {
  EXPECT_EQ(codecFromRecord(1), Codec::kH264);
  EXPECT_EQ(codecFromRecord(2), Codec::kHevc);
  EXPECT_FALSE(codecFromRecord(0));
  EXPECT_FALSE(codecFromRecord(3));
}

}  // namespace
}  // namespace funkhaus::net
