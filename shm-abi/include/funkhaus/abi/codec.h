// Codec ids: the one numbering of every codec that crosses a process boundary (packet-ring
// records, the net state page, commands). Used by encode, net, funkhausd and the tests.
#pragma once

#include <cstdint>

namespace funkhaus::abi {

enum class Codec : uint32_t {
  kNone = 0,  // unspecified (a record from a producer that does not say)
  kH264 = 1,  // Annex-B H.264 access units
  kHevc = 2,  // Annex-B HEVC access units
  // Opus packets (RFC 6716) of the audio packet ring, one per record, 48 kHz; surround is one
  // multistream packet in GameStream's layout. The record's `format` says channels and duration.
  kOpus = 3,
};
inline constexpr uint32_t kMaxCodec = static_cast<uint32_t>(Codec::kOpus);

// PacketRecordHeader::format of a kOpus record: channels in bits 0-7, samples per channel (at
// 48 kHz) in bits 8-23. Zero for video records.
constexpr uint32_t opusFormat(uint32_t channels, uint32_t samples) {
  return (channels & 0xFF) | (samples & 0xFFFF) << 8;
}
constexpr uint32_t opusFormatChannels(uint32_t format) { return format & 0xFF; }
constexpr uint32_t opusFormatSamples(uint32_t format) { return format >> 8 & 0xFFFF; }

}  // namespace funkhaus::abi
