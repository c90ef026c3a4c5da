// Annex-B splitting and NAL unit classification.
#include "funkhaus/encode/annexb.h"

namespace funkhaus::encode {

namespace {

constexpr uint32_t kH264Idr = 5;
constexpr uint32_t kH264Sps = 7;
constexpr uint32_t kH264Pps = 8;
constexpr uint32_t kHevcIdrWRadl = 19;
constexpr uint32_t kHevcIdrNLp = 20;
constexpr uint32_t kHevcVps = 32;
constexpr uint32_t kHevcSps = 33;
constexpr uint32_t kHevcPps = 34;

// Length of the start code at `i` (3 or 4), or 0 if there is none.
size_t startCodeAt(std::span<const std::byte> b, size_t i) {
  auto at = [&](size_t k) { return std::to_integer<uint8_t>(b[k]); };
  if (i + 3 <= b.size() && at(i) == 0 && at(i + 1) == 0 && at(i + 2) == 1) return 3;
  if (i + 4 <= b.size() && at(i) == 0 && at(i + 1) == 0 && at(i + 2) == 0 && at(i + 3) == 1)
    return 4;
  return 0;
}

}  // namespace

const char* toString(Codec codec) {
  switch (codec) {
    case Codec::kH264:
      return "H.264";
    case Codec::kHevc:
      return "HEVC";
  }
  return "?";
}

Result<AccessUnitInfo> parseAccessUnit(Codec codec, std::span<const std::byte> bytes) {
  if (codec != Codec::kH264 && codec != Codec::kHevc)
    return makeError("access unit: unknown codec {}", static_cast<uint32_t>(codec));
  const size_t first = startCodeAt(bytes, 0);
  if (first == 0)
    return makeError("access unit of {} bytes does not begin with a start code", bytes.size());
  AccessUnitInfo info;
  size_t begin = first;
  while (begin <= bytes.size()) {
    // The NAL unit runs to the next start code (trailing zero bytes belong to that start code).
    size_t end = begin;
    size_t next_code = 0;
    while (end < bytes.size() && (next_code = startCodeAt(bytes, end)) == 0) ++end;
    size_t nal_end = end;
    while (nal_end > begin && std::to_integer<uint8_t>(bytes[nal_end - 1]) == 0) --nal_end;
    if (nal_end == begin)
      return makeError("access unit: empty NAL unit at byte {} (NAL unit {})", begin,
                       info.nals.size());
    const auto nal = bytes.subspan(begin, nal_end - begin);
    const auto header = std::to_integer<uint8_t>(nal[0]);
    if ((header & 0x80) != 0)
      return makeError("access unit: NAL unit {} at byte {} has forbidden_zero_bit set",
                       info.nals.size(), begin);
    NalUnit unit;
    unit.data = nal;
    if (codec == Codec::kH264) {
      unit.type = header & 0x1f;
      info.idr |= unit.type == kH264Idr;
      info.sps |= unit.type == kH264Sps;
      info.pps |= unit.type == kH264Pps;
      info.slices |= unit.type >= 1 && unit.type <= 5;
    } else {
      if (nal.size() < 2)
        return makeError("access unit: HEVC NAL unit {} at byte {} is shorter than its header",
                         info.nals.size(), begin);
      unit.type = (header >> 1) & 0x3f;
      info.idr |= unit.type == kHevcIdrWRadl || unit.type == kHevcIdrNLp;
      info.vps |= unit.type == kHevcVps;
      info.sps |= unit.type == kHevcSps;
      info.pps |= unit.type == kHevcPps;
      info.slices |= unit.type <= 9 || (unit.type >= 16 && unit.type <= 21);  // coded slices
    }
    info.nals.push_back(unit);
    if (end >= bytes.size()) break;
    begin = end + next_code;
    if (begin == bytes.size())
      return makeError("access unit: start code at byte {} ends the data", end);
  }
  return info;
}

}  // namespace funkhaus::encode
