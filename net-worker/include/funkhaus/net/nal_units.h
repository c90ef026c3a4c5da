// Annex-B access units of H.264 and HEVC: splitting into NAL units, NAL types, keyframes and
// parameter sets. Used by funkhaus-net's main thread on every access unit from the packet ring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace funkhaus::net {

enum class Codec : uint32_t {
  kH264 = 1,  // as PacketRecordHeader::codec
  kHevc = 2,
};

// The codec of a packet-ring record's codec field, or nullopt for 0 and unknown values.
std::optional<Codec> codecFromRecord(uint32_t codec);
const char* toString(Codec codec);

using NalUnit = std::span<const uint8_t>;

// Splits an Annex-B byte stream at its start codes (00 00 01, 00 00 00 01) into NAL units, each
// without start code and without trailing zero bytes. Bytes before the first start code and
// empty units are skipped. `out` is cleared first.
void splitAnnexB(std::span<const uint8_t> stream, std::vector<NalUnit>& out);

// NAL unit type (H.264: 5 bits; HEVC: 6 bits), or -1 for a unit too short to have a header.
int nalType(Codec codec, NalUnit nal);

// True for an IDR (H.264 type 5) or an IRAP picture (HEVC types 16..21).
bool isKeyframeNal(Codec codec, NalUnit nal);

// Access unit delimiters carry nothing an RTP receiver needs; the packetizer drops them.
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

}  // namespace funkhaus::net
