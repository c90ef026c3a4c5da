// Fuzz target: Annex-B access units (bytes an encoder, or a peer, produced). Any input parses
// or gives a clear error; every NAL unit found lies inside the input and is not empty.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "funkhaus/encode/annexb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::encode;
  if (size == 0) return 0;
  const Codec codec = (data[0] & 1) != 0 ? Codec::kHevc : Codec::kH264;
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  auto info = parseAccessUnit(codec, input);
  if (!info) return 0;
  for (const NalUnit& nal : info->nals) {
    if (nal.data.empty() || nal.data.data() < input.data() ||
        nal.data.data() + nal.data.size() > input.data() + input.size())
      __builtin_trap();
  }
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
  };
}
