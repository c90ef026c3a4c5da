// Annex-B splitting and NAL unit classification for H.264 (ITU-T H.264 7.4.1.2) and HEVC
// (ITU-T H.265 7.4.2.2).
#include "funkhaus/common/media/nal.h"

#include <algorithm>
#include <cstring>

namespace funkhaus::media {

namespace {

constexpr int kH264Idr = 5;
constexpr int kH264Sps = 7;
constexpr int kH264Pps = 8;
constexpr int kH264Aud = 9;
constexpr int kHevcFirstIrap = 16;  // BLA_W_LP
constexpr int kHevcLastIrap = 21;   // CRA_NUT
constexpr int kHevcVps = 32;
constexpr int kHevcSps = 33;
constexpr int kHevcPps = 34;
constexpr int kHevcAud = 35;

}  // namespace

const char* codecName(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "none";
    case Codec::kH264:
      return "H.264";
    case Codec::kHevc:
      return "HEVC";
    case Codec::kOpus:
      return "Opus";
  }
  return "?";
}

std::optional<Codec> codecFromId(uint32_t id) {
  if (id == static_cast<uint32_t>(Codec::kH264)) return Codec::kH264;
  if (id == static_cast<uint32_t>(Codec::kHevc)) return Codec::kHevc;
  return std::nullopt;
}

SplitIrregularity splitAnnexB(std::span<const uint8_t> s, std::vector<NalUnit>& out) {
  out.clear();
  SplitIrregularity irregular;
  const size_t n = s.size();
  constexpr size_t kNoStart = SIZE_MAX;
  // Position just after the next start code at or after `from`, or kNoStart. Every start code
  // ends in a 1, which in coded slice data comes about once in 256 bytes: memchr finds the
  // candidates (many bytes at a time), the two bytes before each decide.
  auto nextStart = [&](size_t from) -> size_t {
    for (size_t i = from + 2; i < n;) {
      const auto* one = static_cast<const uint8_t*>(std::memchr(s.data() + i, 1, n - i));
      if (one == nullptr) break;
      const auto at = static_cast<size_t>(one - s.data());
      if (s[at - 1] == 0 && s[at - 2] == 0) return at + 1;
      i = at + 1;
    }
    return kNoStart;
  };
  // Where the start code that ends at `after` begins (a 4-byte code's leading zero included).
  auto codeAt = [&](size_t after) {
    const size_t at = after - 3;
    return at > 0 && s[at - 1] == 0 ? at - 1 : at;
  };
  size_t begin = nextStart(0);
  if (begin == kNoStart) {
    irregular.leading_bytes = n;
    return irregular;
  }
  irregular.leading_bytes = codeAt(begin);
  for (;;) {
    irregular.last_start_code_at = codeAt(begin);
    if (begin == n) {
      irregular.ends_with_start = true;
      break;
    }
    const size_t next = nextStart(begin);
    // The unit ends at the next start code, without trailing zeros (which also drops the leading
    // zero of a 4-byte start code).
    size_t end = next == kNoStart ? n : next - 3;
    while (end > begin && s[end - 1] == 0) --end;
    if (end > begin) {
      out.push_back(s.subspan(begin, end - begin));
    } else if (irregular.empty_units++ == 0) {
      irregular.first_empty_at = begin;
    }
    if (next == kNoStart) break;
    begin = next;
  }
  return irregular;
}

int nalType(Codec codec, NalUnit nal) {
  if (codec == Codec::kH264) return nal.empty() ? -1 : nal[0] & 0x1F;
  return nal.size() < 2 ? -1 : (nal[0] >> 1) & 0x3F;
}

bool isKeyframeNal(Codec codec, NalUnit nal) {
  const int type = nalType(codec, nal);
  if (codec == Codec::kH264) return type == kH264Idr;
  return type >= kHevcFirstIrap && type <= kHevcLastIrap;
}

bool isAccessUnitDelimiter(Codec codec, NalUnit nal) {
  return nalType(codec, nal) == (codec == Codec::kH264 ? kH264Aud : kHevcAud);
}

std::optional<ParameterSetKind> parameterSetKind(Codec codec, NalUnit nal) {
  const int type = nalType(codec, nal);
  if (codec == Codec::kH264) {
    if (type == kH264Sps) return ParameterSetKind::kSps;
    if (type == kH264Pps) return ParameterSetKind::kPps;
    return std::nullopt;
  }
  if (type == kHevcVps) return ParameterSetKind::kVps;
  if (type == kHevcSps) return ParameterSetKind::kSps;
  if (type == kHevcPps) return ParameterSetKind::kPps;
  return std::nullopt;
}

bool updateParameterSets(Codec codec, std::span<const NalUnit> nals, size_t max_size,
                         ParameterSets& sets) {
  bool changed = false;
  if (sets.codec != codec) {
    sets = ParameterSets{codec, {}, {}, {}};
    changed = true;
  }
  for (NalUnit nal : nals) {
    const auto kind = parameterSetKind(codec, nal);
    if (!kind || nal.size() > max_size) continue;
    std::vector<uint8_t>& slot = *kind == ParameterSetKind::kVps   ? sets.vps
                                 : *kind == ParameterSetKind::kSps ? sets.sps
                                                                   : sets.pps;
    if (!std::equal(slot.begin(), slot.end(), nal.begin(), nal.end())) {
      slot.assign(nal.begin(), nal.end());
      changed = true;
    }
  }
  return changed;
}

Result<AccessUnitInfo> parseAccessUnit(Codec codec, std::span<const uint8_t> bytes) {
  if (!codecFromId(static_cast<uint32_t>(codec)))
    return makeError("access unit: unknown codec {}", static_cast<uint32_t>(codec));
  AccessUnitInfo info;
  // An access unit is a handful of units (AUD, parameter sets, SEI, slices): one allocation for
  // them instead of growing the vector 1, 2, 4, 8 (the encoder parses every frame it sends).
  info.nals.reserve(8);
  const SplitIrregularity irregular = splitAnnexB(bytes, info.nals);
  if (irregular.leading_bytes != 0 ||
      (info.nals.empty() && irregular.empty_units == 0 && !irregular.ends_with_start))
    return makeError("access unit of {} bytes does not begin with a start code", bytes.size());
  if (irregular.empty_units != 0)
    return makeError("access unit: empty NAL unit at byte {}", irregular.first_empty_at);
  if (irregular.ends_with_start) {
    if (info.nals.empty()) return makeError("access unit: empty NAL unit at byte {}", bytes.size());
    return makeError("access unit: start code at byte {} ends the data",
                     irregular.last_start_code_at);
  }
  for (size_t i = 0; i < info.nals.size(); ++i) {
    const NalUnit nal = info.nals[i];
    const auto at = static_cast<size_t>(nal.data() - bytes.data());
    if ((nal[0] & 0x80) != 0)
      return makeError("access unit: NAL unit {} at byte {} has forbidden_zero_bit set", i, at);
    if (codec == Codec::kHevc && nal.size() < 2)
      return makeError("access unit: HEVC NAL unit {} at byte {} is shorter than its header", i,
                       at);
    const int type = nalType(codec, nal);
    info.keyframe |= isKeyframeNal(codec, nal);
    if (const auto kind = parameterSetKind(codec, nal)) {
      info.vps |= *kind == ParameterSetKind::kVps;
      info.sps |= *kind == ParameterSetKind::kSps;
      info.pps |= *kind == ParameterSetKind::kPps;
    }
    if (codec == Codec::kH264)
      info.slices |= type >= 1 && type <= 5;
    else
      info.slices |= type <= 9 || (type >= kHevcFirstIrap && type <= kHevcLastIrap);
  }
  return info;
}

}  // namespace funkhaus::media
