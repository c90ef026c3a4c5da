// Fuzz target: Annex-B access units through the one media module (bytes an encoder, or a peer,
// produced). The lenient splitter and the strict parser take any input: every NAL unit found
// lies inside the input and is not empty, the strict parser accepts only what the splitter
// found regular, and both find the same units.
// fuzz-parser: common/source/media/nal.cpp
#include <cstddef>
#include <cstdint>
#include <vector>

#include "funkhaus/common/media/nal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::media;
  if (size == 0) return 0;
  const Codec codec = (data[0] & 1) != 0 ? Codec::kHevc : Codec::kH264;
  const std::span<const uint8_t> input(data + 1, size - 1);
  auto inside = [&](NalUnit nal) {
    return !nal.empty() && nal.data() >= input.data() &&
           nal.data() + nal.size() <= input.data() + input.size();
  };
  // Kept across executions (splitAnnexB clears it first): growing a new one unit by unit was a
  // fifth of the time on inputs of many short units.
  static std::vector<NalUnit> nals;
  const SplitIrregularity irregular = splitAnnexB(input, nals);
  for (NalUnit nal : nals) {
    if (!inside(nal)) __builtin_trap();
    (void)isKeyframeNal(codec, nal);
    (void)parameterSetKind(codec, nal);
  }
  ParameterSets sets;
  (void)updateParameterSets(codec, nals, 1016, sets);
  if (sets.sps.size() > 1016 || sets.pps.size() > 1016 || sets.vps.size() > 1016) __builtin_trap();
  auto info = parseAccessUnit(codec, input);
  if (!info) {
    if (info.error().message.empty()) __builtin_trap();
    return 0;
  }
  if (irregular.leading_bytes != 0 || irregular.empty_units != 0 || irregular.ends_with_start)
    __builtin_trap();  // strict accepted what the splitter found irregular
  if (info->nals.size() != nals.size()) __builtin_trap();
  for (size_t i = 0; i < nals.size(); ++i)
    if (info->nals[i].data() != nals[i].data() || info->nals[i].size() != nals[i].size())
      __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  return {
      // H.264: SPS, PPS, IDR.
      {0, 0,    0,    0,    1,    0x67, 0x64, 0x00, 0x1f, 0,    0,
       1, 0x68, 0xee, 0x3c, 0x80, 0,    0,    1,    0x65, 0x88, 0x84},
      // H.264: non-IDR slice.
      {0, 0, 0, 1, 0x41, 0x9a, 0x02, 0x03},
      // HEVC: VPS, SPS, PPS, IDR_W_RADL.
      {1, 0, 0, 0, 1,    0x40, 0x01, 0x0c, 0, 0, 0, 1,    0x42, 0x01, 0x01,
       0, 0, 0, 1, 0x44, 0x01, 0xc1, 0,    0, 0, 1, 0x26, 0x01, 0xaf},
      // Irregular: leading garbage, an empty unit, trailing zeros.
      {0, 9, 9, 0, 0, 1, 0, 0, 1, 0x65, 1, 0, 0, 0, 0},
  };
}
