// The one media module for coded video: codec names of the abi::Codec ids, the Annex-B splitter,
// NAL unit types, the keyframe rule, parameter-set tracking and the strict check of an access
// unit. Used by encode (on its own output) and net (on every access unit from the ring); any
// thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "funkhaus/abi/codec.h"
#include "funkhaus/common/result.h"

namespace funkhaus::media {

// Codec ids are the ABI's (abi/codec.h): the numbers in packet-ring records, the net state page
// and commands.
using Codec = abi::Codec;

// "H.264", "HEVC", "none" (unknown values: "?").
const char* codecName(Codec codec);
// A coded video codec this module parses (H.264, HEVC) from a wire id; nullopt for kNone and
// values no build knows (a record or page from an untrusted writer).
std::optional<Codec> codecFromId(uint32_t id);

// One NAL unit: from its header on, without start code and without trailing zero bytes.
using NalUnit = std::span<const uint8_t>;

// What splitAnnexB() found irregular (a strict reader refuses these; a lenient one skips them).
struct SplitIrregularity {
  size_t leading_bytes = 0;       // before the first start code (all, when there is none)
  size_t empty_units = 0;         // start codes with nothing (or only zeros) after them
  size_t first_empty_at = 0;      // offset of the first empty unit's first byte
  bool ends_with_start = false;   // the data ends right after a start code
  size_t last_start_code_at = 0;  // offset of the last start code (for ends_with_start)
};

// Splits an Annex-B byte stream at its start codes (00 00 01 and 00 00 00 01) into NAL units
// (pointing into `stream`). Bytes before the first start code and empty units are skipped and
// reported. `out` is cleared first. Never reads outside `stream`.
SplitIrregularity splitAnnexB(std::span<const uint8_t> stream, std::vector<NalUnit>& out);

// nal_unit_type (H.264: 5 bits; HEVC: 6 bits), or -1 for a unit too short to have a header.
int nalType(Codec codec, NalUnit nal);

// The one keyframe rule: a NAL unit a decoder can start decoding from.
//  - H.264: an IDR slice (type 5). Pictures after it never reference pictures before it.
//    (Recovery-point SEI on non-IDR I slices is not counted: decoders do not all honour it.)
//  - HEVC: an IRAP picture, types 16..21 (BLA_W_LP, BLA_W_RADL, BLA_N_LP, IDR_W_RADL, IDR_N_LP,
//    CRA_NUT). H.265 8.1.3: decoding may start at any IRAP picture; a CRA's leading RASL pictures
//    are then simply not output. Counting only IDR (19, 20) would make a stream of CRAs (what
//    some encoders send on demand) look as if it never offered a place to join.
// Encode flags records with it, net starts viewers at it: both ask this one function.
bool isKeyframeNal(Codec codec, NalUnit nal);

// Access unit delimiters (H.264 9, HEVC 35) carry nothing an RTP receiver needs.
bool isAccessUnitDelimiter(Codec codec, NalUnit nal);

enum class ParameterSetKind { kVps, kSps, kPps };
// Which parameter set a NAL unit is, if any (VPS only for HEVC).
std::optional<ParameterSetKind> parameterSetKind(Codec codec, NalUnit nal);

// The latest parameter sets of a stream. Complete when SPS and PPS (and for HEVC the VPS) are
// known.
struct ParameterSets {
  Codec codec = Codec::kH264;
  std::vector<uint8_t> vps, sps, pps;

  bool complete() const {
    return !sps.empty() && !pps.empty() && (codec != Codec::kHevc || !vps.empty());
  }
  friend bool operator==(const ParameterSets&, const ParameterSets&) = default;
};

// Takes the parameter sets found in `nals` into `sets` (replacing older ones of the same kind,
// and all of them when the codec differs). Returns true if anything changed. Units longer than
// `max_size` bytes are ignored.
bool updateParameterSets(Codec codec, std::span<const NalUnit> nals, size_t max_size,
                         ParameterSets& sets);

// What one access unit holds, checked strictly.
struct AccessUnitInfo {
  std::vector<NalUnit> nals;
  bool keyframe = false;  // a NAL unit isKeyframeNal() accepts
  bool vps = false;       // HEVC only
  bool sps = false;
  bool pps = false;
  bool slices = false;  // at least one coded slice
  // A viewer that joins here can decode at once: a keyframe with every parameter set.
  bool decodableAlone(Codec codec) const {
    return keyframe && sps && pps && (codec == Codec::kH264 || vps);
  }
};

// Splits an access unit and checks it strictly. Errors: an unknown codec, no start code at the
// beginning, an empty NAL unit, a start code that ends the data, the forbidden_zero_bit set, or
// (HEVC) a header shorter than 2 bytes.
Result<AccessUnitInfo> parseAccessUnit(Codec codec, std::span<const uint8_t> bytes);
inline Result<AccessUnitInfo> parseAccessUnit(Codec codec, std::span<const std::byte> bytes) {
  return parseAccessUnit(codec,
                         std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace funkhaus::media
