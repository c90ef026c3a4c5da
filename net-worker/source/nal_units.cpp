// Annex-B splitting and NAL unit classification for H.264 (ITU-T H.264 7.4.1.2) and HEVC
// (ITU-T H.265 7.4.2.2).
#include "funkhaus/net/nal_units.h"

#include <algorithm>

namespace funkhaus::net {

std::optional<Codec> codecFromRecord(uint32_t codec) {
  if (codec == static_cast<uint32_t>(Codec::kH264)) return Codec::kH264;
  if (codec == static_cast<uint32_t>(Codec::kHevc)) return Codec::kHevc;
  return std::nullopt;
}

const char* toString(Codec codec) { return codec == Codec::kHevc ? "HEVC" : "H.264"; }

void splitAnnexB(std::span<const uint8_t> s, std::vector<NalUnit>& out) {
  out.clear();
  const size_t n = s.size();
  // Position just after the next start code at or after `from`, or n.
  auto nextStart = [&](size_t from) -> size_t {
    for (size_t i = from; i + 3 <= n; ++i) {
      if (s[i + 2] > 1) {
        i += 2;  // no start code can end at i+2 or before
        continue;
      }
      if (s[i] == 0 && s[i + 1] == 0 && s[i + 2] == 1) return i + 3;
    }
    return n;
  };
  size_t begin = nextStart(0);
  while (begin < n) {
    const size_t next = nextStart(begin);
    // The unit ends at the start code (3 bytes before `next`), without trailing zeros (which
    // also drops the leading zero of a 4-byte start code).
    size_t end = next == n ? n : next - 3;
    while (end > begin && s[end - 1] == 0) --end;
    if (end > begin) out.push_back(s.subspan(begin, end - begin));
    begin = next;
  }
}

int nalType(Codec codec, NalUnit nal) {
  if (codec == Codec::kH264) return nal.empty() ? -1 : nal[0] & 0x1F;
  return nal.size() < 2 ? -1 : (nal[0] >> 1) & 0x3F;
}

bool isKeyframeNal(Codec codec, NalUnit nal) {
  const int type = nalType(codec, nal);
  if (codec == Codec::kH264) return type == 5;
  return type >= 16 && type <= 21;
}

bool isAccessUnitDelimiter(Codec codec, NalUnit nal) {
  return nalType(codec, nal) == (codec == Codec::kH264 ? 9 : 35);
}

std::optional<ParameterSetKind> parameterSetKind(Codec codec, NalUnit nal) {
  const int type = nalType(codec, nal);
  if (codec == Codec::kH264) {
    if (type == 7) return ParameterSetKind::kSps;
    if (type == 8) return ParameterSetKind::kPps;
    return std::nullopt;
  }
  if (type == 32) return ParameterSetKind::kVps;
  if (type == 33) return ParameterSetKind::kSps;
  if (type == 34) return ParameterSetKind::kPps;
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

}  // namespace funkhaus::net
