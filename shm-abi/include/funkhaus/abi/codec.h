// Codec ids: the one numbering of every codec that crosses a process boundary (packet-ring
// records, the net state page, commands). Used by encode, net, funkhausd and the tests.
#pragma once

#include <cstdint>

namespace funkhaus::abi {

enum class Codec : uint32_t {
  kNone = 0,  // unspecified (a record from a producer that does not say)
  kH264 = 1,  // Annex-B H.264 access units
  kHevc = 2,  // Annex-B HEVC access units
};
inline constexpr uint32_t kMaxCodec = static_cast<uint32_t>(Codec::kHevc);

}  // namespace funkhaus::abi
