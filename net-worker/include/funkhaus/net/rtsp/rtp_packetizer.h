// RTP packetization of H.264 (RFC 6184: single NAL unit packets and FU-A) and HEVC (RFC 7798:
// single NAL unit packets and FUs), RTP headers and 90 kHz timestamps. funkhaus-net main thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "funkhaus/common/media/nal.h"
#include "funkhaus/common/result.h"

namespace funkhaus::net {

// Net speaks the one media module's codec ids, NAL units and parameter sets.
using media::Codec;
using media::NalUnit;
using media::ParameterSets;

inline constexpr uint8_t kRtpPayloadType = 96;       // dynamic, as announced in the SDP
inline constexpr uint8_t kRtpAudioPayloadType = 97;  // Opus (RFC 7587), dynamic likewise
inline constexpr uint32_t kRtpAudioClockRate = 48'000;
inline constexpr size_t kRtpHeaderSize = 12;
inline constexpr uint32_t kRtpClockRate = 90'000;
// Payload budget per RTP packet (RTP header excluded): the --mtu range.
inline constexpr size_t kMinMtu = 64;
inline constexpr size_t kMaxMtu = 9000;

// One RTP payload: a payload header of 0..3 bytes (FU indicator/header) followed by a slice of
// the access unit. The slice points into the access unit: packetize once, send to every viewer.
struct RtpFragment {
  std::array<uint8_t, 3> prefix{};
  uint8_t prefix_size = 0;
  bool marker = false;  // last packet of the access unit
  std::span<const uint8_t> data;

  size_t payloadSize() const { return prefix_size + data.size(); }
};

// Packetizes the NAL units of one access unit so that no payload exceeds `mtu` bytes: a unit
// that fits goes whole, a larger one in fragmentation units. Access unit delimiters are dropped.
// The last fragment carries the marker. Fails (and leaves `out` empty) for an mtu out of range
// or a NAL unit too short to fragment. `out` is cleared first.
Result<void> packetize(Codec codec, std::span<const NalUnit> nals, size_t mtu,
                       std::vector<RtpFragment>& out);

// The 12-byte RTP header (version 2, no padding, extension or CSRCs).
void writeRtpHeader(uint8_t* out, bool marker, uint8_t payload_type, uint16_t sequence,
                    uint32_t timestamp, uint32_t ssrc);

// 90 kHz RTP timestamp of a CLOCK_MONOTONIC time plus a per-viewer offset (wraps mod 2^32).
// Derived from the time alone, so it continues across a net restart without extra state.
uint32_t rtpTimestamp(uint64_t monotonic_ns, uint32_t offset);
// The same at 48 kHz (Opus, RFC 7587: always 48 kHz whatever the coded bandwidth).
uint32_t rtpAudioTimestamp(uint64_t monotonic_ns, uint32_t offset);

}  // namespace funkhaus::net
