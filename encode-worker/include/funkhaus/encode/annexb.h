// Annex-B access units: splitting at start codes and naming the NAL units (IDR, parameter
// sets). Used by the encoder on its own output and by tests on what a viewer would receive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::encode {

// The codec of an access unit; the values are those of PacketRecordHeader::codec.
enum class Codec : uint32_t {
  kH264 = 1,
  kHevc = 2,
};

const char* toString(Codec codec);

struct NalUnit {
  uint32_t type = 0;                // nal_unit_type (H.264: 5 bits, HEVC: 6 bits)
  std::span<const std::byte> data;  // the NAL unit from its header on, start code excluded
};

// What an access unit holds.
struct AccessUnitInfo {
  std::vector<NalUnit> nals;
  bool idr = false;  // an IDR slice (H.264 type 5; HEVC IDR_W_RADL 19 / IDR_N_LP 20)
  bool vps = false;  // HEVC only
  bool sps = false;
  bool pps = false;
  bool slices = false;  // at least one coded slice
  // A viewer that joins here can decode at once: IDR with every parameter set of the codec.
  bool decodableAlone(Codec codec) const {
    return idr && sps && pps && (codec == Codec::kH264 || vps);
  }
};

// Splits `bytes` at Annex-B start codes (00 00 01, or 00 00 00 01) and checks each NAL unit
// header. Errors: no start code at the beginning, an empty NAL unit, the forbidden_zero_bit
// set, or (HEVC) a header shorter than 2 bytes. Never reads outside `bytes`.
Result<AccessUnitInfo> parseAccessUnit(Codec codec, std::span<const std::byte> bytes);

}  // namespace funkhaus::encode
