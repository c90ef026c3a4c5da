// Access units as net serves them: the private copy of a packet-ring record (AccessUnit; also an
// Opus packet of the audio ring) and the
// view the core makes of it once for every protocol (MediaUnit: codec, NAL units, keyframe).
// funkhaus-net: made on the ring reader's thread, served on the main thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "funkhaus/common/media/nal.h"

namespace funkhaus::net {

// One access unit as read from the packet ring (a private copy).
struct AccessUnit {
  uint64_t frame_number = 0;
  uint64_t capture_time_ns = 0;  // CLOCK_MONOTONIC
  uint64_t taken_ns = 0;         // when the ring reader took it from the ring (CLOCK_MONOTONIC)
  uint32_t flags = 0;            // abi::kRecordFlag*
  uint32_t codec = 0;            // abi::Codec id as the record says (unchecked)
  uint32_t format = 0;           // the record's format: abi::opusFormat() for Opus, else 0
  std::vector<uint8_t> data;     // Annex B (video), one Opus packet (audio)
};

// An access unit split and classified once (funkhaus/common/media/nal.h), for every protocol.
struct MediaUnit {
  const AccessUnit& unit;
  media::Codec codec;                    // a codec the media module parses
  std::span<const media::NalUnit> nals;  // into unit.data
  bool keyframe = false;                 // flagged by the producer or a keyframe NAL unit inside
  bool discontinuity = false;            // units were lost before this one
};

}  // namespace funkhaus::net
