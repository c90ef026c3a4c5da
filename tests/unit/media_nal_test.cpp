// The one media module: Annex-B splitting (lenient and strict), NAL types of both codecs, the
// keyframe rule, parameter sets, codec ids, and malformed input as errors.
#include "funkhaus/common/media/nal.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <utility>
#include <vector>

namespace funkhaus::media {
namespace {

std::vector<std::vector<uint8_t>> split(const std::vector<uint8_t>& stream) {
  std::vector<NalUnit> nals;
  splitAnnexB(stream, nals);
  std::vector<std::vector<uint8_t>> out;
  for (NalUnit n : nals) out.emplace_back(n.begin(), n.end());
  return out;
}

TEST(MediaNal, SplitsThreeAndFourByteStartCodes) {
  const std::vector<uint8_t> stream = {0, 0, 0,    1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0,
                                       0, 1, 0x65, 4, 5,    6, 0, 0, 0, 1, 0x41, 7};
  const auto nals = split(stream);
  ASSERT_EQ(nals.size(), 4u);
  EXPECT_EQ(nals[0], (std::vector<uint8_t>{0x67, 1, 2}));
  EXPECT_EQ(nals[1], (std::vector<uint8_t>{0x68, 3}));
  EXPECT_EQ(nals[2], (std::vector<uint8_t>{0x65, 4, 5, 6}));  // the 4-byte code's zero dropped
  EXPECT_EQ(nals[3], (std::vector<uint8_t>{0x41, 7}));
}

TEST(MediaNal, LenientSplitDropsLeadingGarbageTrailingZerosAndEmptyUnits) {
  const std::vector<uint8_t> stream = {9, 9, 0, 0, 1, 0, 0, 1, 0x65, 1, 0, 0, 0, 0};
  std::vector<NalUnit> nals;
  const SplitIrregularity irregular = splitAnnexB(stream, nals);
  ASSERT_EQ(nals.size(), 1u);
  EXPECT_EQ(std::vector<uint8_t>(nals[0].begin(), nals[0].end()), (std::vector<uint8_t>{0x65, 1}));
  EXPECT_EQ(irregular.leading_bytes, 2u);
  EXPECT_EQ(irregular.empty_units, 1u);
  EXPECT_EQ(irregular.first_empty_at, 5u);
  EXPECT_FALSE(irregular.ends_with_start);
  EXPECT_TRUE(split({}).empty());
  EXPECT_TRUE(split({0, 0, 1}).empty());
  EXPECT_TRUE(split({1, 2, 3, 4}).empty());
  EXPECT_EQ(splitAnnexB(std::vector<uint8_t>{1, 2, 3, 4}, nals).leading_bytes, 4u);
  EXPECT_TRUE(splitAnnexB(std::vector<uint8_t>{0, 0, 1, 0x65, 0, 0, 1}, nals).ends_with_start);
}

// Start codes found by a byte-by-byte scan, as the standard defines them (0x000001 anywhere),
// against splitAnnexB on streams dense in 0s and 1s: every unit, and where each begins, agree.
TEST(MediaNal, SplitFindsEveryStartCodeAByteScanFinds) {
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1103515245u + 12345u; };
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> stream(next() % 64);
    for (auto& b : stream)  // mostly 0, 1 and 2; now and then any byte
      b = static_cast<uint8_t>(((next() >> 16) & 3) != 0 ? (next() >> 16) % 3
                                                         : (next() >> 16) & 0xFF);
    std::vector<size_t> after;  // positions just after each 0 0 1
    for (size_t i = 0; i + 3 <= stream.size(); ++i)
      if (stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1) after.push_back(i + 3);
    std::vector<NalUnit> nals;
    const SplitIrregularity irregular = splitAnnexB(stream, nals);
    std::vector<std::pair<size_t, size_t>> expected;  // begin, end of each non-empty unit
    for (size_t k = 0; k < after.size(); ++k) {
      size_t end = k + 1 < after.size() ? after[k + 1] - 3 : stream.size();
      while (end > after[k] && stream[end - 1] == 0) --end;
      if (end > after[k]) expected.emplace_back(after[k], end);
    }
    ASSERT_EQ(nals.size(), expected.size()) << "round " << round;
    for (size_t k = 0; k < nals.size(); ++k) {
      EXPECT_EQ(static_cast<size_t>(nals[k].data() - stream.data()), expected[k].first);
      EXPECT_EQ(nals[k].size(), expected[k].second - expected[k].first);
    }
    if (after.empty()) {
      EXPECT_EQ(irregular.leading_bytes, stream.size());
    } else {
      EXPECT_EQ(irregular.ends_with_start, after.back() == stream.size());
    }
  }
}

TEST(MediaNal, KeepsEmulationPreventionBytes) {
  // 00 00 03 inside a unit is not a start code.
  const auto nals = split({0, 0, 1, 0x65, 0, 0, 3, 1, 0xAA});
  ASSERT_EQ(nals.size(), 1u);
  EXPECT_EQ(nals[0].size(), 6u);
}

TEST(MediaNal, TypesAndTheOneKeyframeRule) {
  const uint8_t idr[] = {0x65, 0};
  const uint8_t p[] = {0x41, 0};
  const uint8_t i_slice[] = {0x21, 0};  // a non-IDR slice (type 1), even if it is intra coded
  const uint8_t aud[] = {0x09, 0xF0};
  EXPECT_EQ(nalType(Codec::kH264, idr), 5);
  EXPECT_TRUE(isKeyframeNal(Codec::kH264, idr));
  EXPECT_FALSE(isKeyframeNal(Codec::kH264, p));
  EXPECT_FALSE(isKeyframeNal(Codec::kH264, i_slice));
  EXPECT_TRUE(isAccessUnitDelimiter(Codec::kH264, aud));
  // HEVC: type in bits 1..6 of the first byte. Every IRAP type (16..21) is a keyframe: BLA,
  // IDR and CRA; RASL (8), RADL (6) and TRAIL (1) are not, nor the reserved IRAP types 22..23.
  for (int type = 0; type < 64; ++type) {
    const uint8_t nal[] = {static_cast<uint8_t>(type << 1), 1};
    EXPECT_EQ(isKeyframeNal(Codec::kHevc, nal), type >= 16 && type <= 21) << type;
  }
  const uint8_t hevc_idr[] = {19 << 1, 1};
  const uint8_t hevc_aud[] = {35 << 1, 1};
  EXPECT_EQ(nalType(Codec::kHevc, hevc_idr), 19);
  EXPECT_TRUE(isAccessUnitDelimiter(Codec::kHevc, hevc_aud));
  EXPECT_EQ(nalType(Codec::kHevc, std::span<const uint8_t>(hevc_idr, 1)), -1);
  EXPECT_EQ(nalType(Codec::kH264, {}), -1);
}

TEST(MediaNal, ParameterSetsUpdateAndCodecChange) {
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

TEST(MediaNal, CodecIdsAndNames) {
  EXPECT_EQ(codecFromId(1), Codec::kH264);
  EXPECT_EQ(codecFromId(2), Codec::kHevc);
  EXPECT_FALSE(codecFromId(0));
  EXPECT_FALSE(codecFromId(3));
  EXPECT_STREQ(codecName(Codec::kH264), "H.264");
  EXPECT_STREQ(codecName(Codec::kHevc), "HEVC");
  EXPECT_STREQ(codecName(Codec::kNone), "none");
}

std::vector<uint8_t> bytes(std::initializer_list<int> values) {
  std::vector<uint8_t> out;
  for (int v : values) out.push_back(static_cast<uint8_t>(v));
  return out;
}

TEST(MediaNal, StrictH264IdrWithParameterSets) {
  // AUD (9), SPS (7), PPS (8), IDR slice (5); 4- and 3-byte start codes; trailing zero byte.
  const auto au = bytes({0, 0, 0, 1,    0x09, 0xf0, 0,    0, 0, 1, 0x67, 0x64, 0x00, 0x1f,
                         0, 0, 1, 0x68, 0xee, 0x3c, 0x80, 0, 0, 1, 0x65, 0x88, 0x84, 0x00});
  auto info = parseAccessUnit(Codec::kH264, au);
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_EQ(info->nals.size(), 4u);
  EXPECT_EQ(nalType(Codec::kH264, info->nals[0]), 9);
  EXPECT_EQ(nalType(Codec::kH264, info->nals[1]), 7);
  EXPECT_EQ(info->nals[1].size(), 4u);
  EXPECT_EQ(nalType(Codec::kH264, info->nals[2]), 8);
  EXPECT_EQ(nalType(Codec::kH264, info->nals[3]), 5);
  EXPECT_EQ(info->nals[3].size(), 3u) << "trailing zero bytes are not part of the NAL unit";
  EXPECT_TRUE(info->keyframe && info->sps && info->pps && info->slices);
  EXPECT_TRUE(info->decodableAlone(Codec::kH264));
  // The std::byte overload (encode's buffers) sees the same.
  std::vector<std::byte> as_bytes(au.size());
  for (size_t i = 0; i < au.size(); ++i) as_bytes[i] = static_cast<std::byte>(au[i]);
  auto same = parseAccessUnit(Codec::kH264, std::span<const std::byte>(as_bytes));
  ASSERT_TRUE(same);
  EXPECT_EQ(same->nals.size(), 4u);
}

TEST(MediaNal, StrictH264NonIdrSlice) {
  const auto au = bytes({0, 0, 1, 0x41, 0x9a, 0x02});  // the NAL units point into it
  auto info = parseAccessUnit(Codec::kH264, au);
  ASSERT_TRUE(info);
  EXPECT_EQ(nalType(Codec::kH264, info->nals[0]), 1);
  EXPECT_FALSE(info->keyframe);
  EXPECT_TRUE(info->slices);
  EXPECT_FALSE(info->decodableAlone(Codec::kH264));
}

TEST(MediaNal, StrictHevcKeyframeNeedsVpsSpsPps) {
  // VPS 32 (0x40), SPS 33 (0x42), PPS 34 (0x44), IDR_W_RADL 19 (0x26); 2-byte headers.
  const auto au = bytes({0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 0, 1, 0x42, 0x01, 0x01,
                         0, 0, 0, 1, 0x44, 0x01, 0xc1, 0, 0, 0, 1, 0x26, 0x01, 0xaf});
  auto info = parseAccessUnit(Codec::kHevc, au);
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_EQ(info->nals.size(), 4u);
  EXPECT_EQ(nalType(Codec::kHevc, info->nals[0]), 32);
  EXPECT_EQ(nalType(Codec::kHevc, info->nals[3]), 19);
  EXPECT_TRUE(info->decodableAlone(Codec::kHevc));
  // Without the VPS it is not decodable alone.
  auto no_vps = parseAccessUnit(Codec::kHevc, std::span(au).subspan(7));
  ASSERT_TRUE(no_vps);
  EXPECT_FALSE(no_vps->decodableAlone(Codec::kHevc));
  // A CRA (21) is a keyframe too: the one rule.
  auto cra = parseAccessUnit(Codec::kHevc, bytes({0, 0, 1, 21 << 1, 0x01, 0xd0}));
  ASSERT_TRUE(cra);
  EXPECT_TRUE(cra->keyframe);
  // TRAIL_R (1): a slice, not a keyframe.
  auto trail = parseAccessUnit(Codec::kHevc, bytes({0, 0, 1, 0x02, 0x01, 0xd0}));
  ASSERT_TRUE(trail);
  EXPECT_FALSE(trail->keyframe);
  EXPECT_TRUE(trail->slices);
}

TEST(MediaNal, StrictParseRefusesMalformedInputWithAClearError) {
  struct Case {
    Codec codec;
    std::vector<uint8_t> data;
    const char* needle;
  };
  const Case cases[] = {
      {Codec::kH264, {}, "start code"},
      {Codec::kH264, bytes({0x65, 0x88}), "start code"},
      {Codec::kH264, bytes({9, 0, 0, 1, 0x65}), "start code"},
      {Codec::kH264, bytes({0, 0, 0, 0, 1, 0x65}), "start code"},
      {Codec::kH264, bytes({0, 0, 1}), "empty"},
      {Codec::kH264, bytes({0, 0, 1, 0, 0, 1, 0x65}), "empty"},
      {Codec::kH264, bytes({0, 0, 1, 0x65, 0, 0, 1, 0, 0}), "empty"},
      {Codec::kH264, bytes({0, 0, 1, 0xe5, 0x01}), "forbidden"},
      {Codec::kH264, bytes({0, 0, 1, 0x65, 0x01, 0, 0, 1}), "ends the data"},
      {Codec::kHevc, bytes({0, 0, 1, 0x26}), "shorter"},
      {static_cast<Codec>(9), bytes({0, 0, 1, 0x65}), "codec"},
      {Codec::kNone, bytes({0, 0, 1, 0x65}), "codec"},
  };
  for (const Case& c : cases) {
    auto info = parseAccessUnit(c.codec, c.data);
    ASSERT_FALSE(info) << c.needle;
    EXPECT_NE(info.error().message.find(c.needle), std::string::npos) << info.error().message;
  }
}

}  // namespace
}  // namespace funkhaus::media
