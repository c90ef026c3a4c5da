// Session descriptions for DESCRIBE (RFC 4566) of one H.264 (RFC 6184) or HEVC (RFC 7798) video
// stream with RTCP feedback (RFC 4585/5104), and an Opus audio stream (RFC 7587) when the session
// has audio. funkhaus-net main thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "funkhaus/common/media/nal.h"

namespace funkhaus::net {

// Net speaks the one media module's codec ids, NAL units and parameter sets.
using media::Codec;
using media::NalUnit;
using media::ParameterSets;

// The control attribute of the one media stream, relative to the Content-Base.
inline constexpr const char* kTrackControl = "track0";
// ... of the audio stream.
inline constexpr const char* kAudioTrackControl = "track1";

struct SdpOptions {
  uint64_t session_id = 0;     // o= session id and version
  std::string origin_address;  // o= unicast address of the server (IPv4 or IPv6 literal)
  bool origin_ipv6 = false;
  std::string session_name = "funkhaus";
  bool audio = false;  // an m=audio section: stereo Opus (rtp_packetizer.h: kRtpAudioPayloadType)
};

// An SDP for `sets.codec` with sprop parameter sets (and, for H.264, profile-level-id) when the
// sets are known; without them the client takes them from the stream.
std::string buildSdp(const ParameterSets& sets, const SdpOptions& options);

std::string base64Encode(std::span<const uint8_t> bytes);

// profile-level-id (6 hex digits: profile_idc, constraint flags, level_idc) of an H.264 SPS NAL
// unit, or "" if it is too short.
std::string profileLevelId(std::span<const uint8_t> sps);

}  // namespace funkhaus::net
