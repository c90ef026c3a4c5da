// ANNOUNCE body parser: a table of the attributes the host reads, each with its range; the body
// is read line by line into the table, then the table into StreamParams.
#include "funkhaus/net/gamestream/announce.h"

#include <array>
#include <charconv>
#include <limits>
#include <string>

#include "funkhaus/net/rtsp/rtsp_request.h"

namespace funkhaus::net::gamestream {

namespace {

constexpr uint32_t kAny = std::numeric_limits<uint32_t>::max();

// The attributes the host reads; the order is the index into Values.
enum Attr : size_t {
  kWidth,
  kHeight,
  kFps,
  kPacketSize,
  kFormat,
  kMaximumBitrate,
  kConfiguredBitrate,
  kDynamicRange,
  kChroma,
  kCscMode,
  kMaxReferenceFrames,
  kSlices,
  kRefreshX100,
  kMinFecPackets,
  kVideoQos,
  kAudioChannels,
  kAudioMask,
  kAudioQuality,
  kPacketDuration,
  kAudioQos,
  kNvFeatures,
  kEncryptionEnabled,
  kReliableUdp,
  kMlFeatures,
  kAttrCount,
};

struct AttrSpec {
  std::string_view name;
  uint32_t min;
  uint32_t max;
};

constexpr std::array<AttrSpec, kAttrCount> kSpecs = {{
    {"x-nv-video[0].clientViewportWd", 1, 8192},
    {"x-nv-video[0].clientViewportHt", 1, 8192},
    {"x-nv-video[0].maxFPS", 1, 480},
    {"x-nv-video[0].packetSize", 64, 9000},
    {"x-nv-vqos[0].bitStreamFormat", 0, 2},
    {"x-nv-vqos[0].bw.maximumBitrateKbps", 1, 10'000'000},
    {"x-ml-video.configuredBitrateKbps", 1, 10'000'000},
    {"x-nv-video[0].dynamicRangeMode", 0, 1},
    {"x-ss-video[0].chromaSamplingType", 0, 1},
    {"x-nv-video[0].encoderCscMode", 0, (2 << 1) | 1},  // BT.2020, full range
    {"x-nv-video[0].maxNumReferenceFrames", 0, 16},
    {"x-nv-video[0].videoEncoderSlicesPerFrame", 1, 255},
    {"x-nv-video[0].clientRefreshRateX100", 0, 100'000},
    {"x-nv-vqos[0].fec.minRequiredFecPackets", 0, 255},
    {"x-nv-vqos[0].qosTrafficType", 0, 255},
    {"x-nv-audio.surround.numChannels", 1, 8},
    {"x-nv-audio.surround.channelMask", 0, kAny},
    {"x-nv-audio.surround.AudioQuality", 0, 1},
    {"x-nv-aqos.packetDuration", 5, 10},  // and only 5 or 10, checked below
    {"x-nv-aqos.qosTrafficType", 0, 255},
    {"x-nv-general.featureFlags", 0, kAny},
    {"x-ss-general.encryptionEnabled", 0, kAny},
    {"x-nv-general.useReliableUdp", 0, kAny},
    {"x-ml-general.featureFlags", 0, kAny},
}};

using Values = std::array<std::optional<uint32_t>, kAttrCount>;

// An untrusted value for an error message: at most 24 characters, non-printables as '?'.
std::string shown(std::string_view value) {
  std::string out = "'";
  for (size_t i = 0; i < value.size() && i < 24; ++i) {
    const char c = value[i];
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (value.size() > 24) out += "...";
  out += "'";
  return out;
}

// One `a=name:value` line into `values`; anything else is ignored.
Result<void> readLine(std::string_view line, Values& values) {
  if (line.substr(0, 2) != "a=") return {};
  line.remove_prefix(2);
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return {};  // a property attribute (a=recvonly)
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = trim(line.substr(colon + 1));
  for (size_t i = 0; i < kAttrCount; ++i) {
    const AttrSpec& spec = kSpecs[i];
    if (spec.name != name) continue;
    if (values[i]) return makeError("ANNOUNCE: {} given twice", spec.name);
    uint32_t n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size())
      return makeError("ANNOUNCE: {} value {} is not a decimal number", spec.name, shown(value));
    if (n < spec.min || n > spec.max)
      return makeError("ANNOUNCE: {} value {} is out of range {}..{}", spec.name, n, spec.min,
                       spec.max);
    values[i] = n;
    return {};
  }
  return {};  // unknown attribute
}

}  // namespace

std::optional<abi::Codec> abiCodec(VideoFormat format) {
  switch (format) {
    case VideoFormat::kH264:
      return abi::Codec::kH264;
    case VideoFormat::kHevc:
      return abi::Codec::kHevc;
    case VideoFormat::kAv1:
      return std::nullopt;
  }
  return std::nullopt;
}

Result<StreamParams> parseAnnounce(std::string_view sdp_body) {
  if (sdp_body.size() > kMaxAnnounceBody)
    return makeError("ANNOUNCE: body of {} bytes is over the limit of {}", sdp_body.size(),
                     kMaxAnnounceBody);
  Values values;
  size_t line_number = 0;
  while (!sdp_body.empty()) {
    ++line_number;
    const size_t nl = sdp_body.find('\n');
    std::string_view line = sdp_body.substr(0, nl);
    sdp_body.remove_prefix(nl == std::string_view::npos ? sdp_body.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxAnnounceLine)
      return makeError("ANNOUNCE: line {} is over the limit of {} bytes", line_number,
                       kMaxAnnounceLine);
    if (Result<void> r = readLine(trim(line), values); !r) return r.error();
  }

  for (Attr required : {kWidth, kHeight, kFps, kPacketSize, kFormat})
    if (!values[required]) return makeError("ANNOUNCE: {} missing", kSpecs[required].name);
  if (!values[kMaximumBitrate] && !values[kConfiguredBitrate])
    return makeError("ANNOUNCE: {} missing (and no {})", kSpecs[kMaximumBitrate].name,
                     kSpecs[kConfiguredBitrate].name);

  StreamParams p;
  p.width = *values[kWidth];
  p.height = *values[kHeight];
  // 4:2:0 chroma halves both dimensions; an encoder cannot take odd ones.
  for (Attr dimension : {kWidth, kHeight})
    if (*values[dimension] % 2 != 0)
      return makeError("ANNOUNCE: {} value {} is odd", kSpecs[dimension].name, *values[dimension]);
  p.fps = *values[kFps];
  p.packet_size = *values[kPacketSize];
  p.video_format = static_cast<VideoFormat>(*values[kFormat]);
  p.bitrate_configured = values[kConfiguredBitrate].has_value();
  p.bitrate_kbps = values[kConfiguredBitrate].value_or(values[kMaximumBitrate].value_or(0));

  p.hdr = values[kDynamicRange].value_or(0) == 1;
  p.yuv444 = values[kChroma].value_or(0) == 1;
  const uint32_t csc = values[kCscMode].value_or(0);
  p.colour_space = static_cast<CscColourSpace>(csc >> 1);
  p.full_range = (csc & 1) != 0;
  p.max_reference_frames = values[kMaxReferenceFrames].value_or(p.max_reference_frames);
  p.slices_per_frame = values[kSlices].value_or(p.slices_per_frame);
  p.refresh_rate_x100 = values[kRefreshX100].value_or(p.refresh_rate_x100);
  p.min_fec_packets = values[kMinFecPackets].value_or(p.min_fec_packets);
  p.video_qos_traffic_type = values[kVideoQos].value_or(p.video_qos_traffic_type);

  p.audio_channels = values[kAudioChannels].value_or(p.audio_channels);
  p.audio_channel_mask = values[kAudioMask].value_or(p.audio_channel_mask);
  p.audio_high_quality = values[kAudioQuality].value_or(0) == 1;
  p.audio_packet_duration_ms = values[kPacketDuration].value_or(p.audio_packet_duration_ms);
  if (p.audio_packet_duration_ms != 5 && p.audio_packet_duration_ms != 10)
    return makeError("ANNOUNCE: {} value {} is neither 5 nor 10", kSpecs[kPacketDuration].name,
                     p.audio_packet_duration_ms);
  p.audio_qos_traffic_type = values[kAudioQos].value_or(p.audio_qos_traffic_type);

  p.nv_feature_flags = values[kNvFeatures].value_or(0);
  p.encryption_enabled = values[kEncryptionEnabled].value_or(0);
  p.reliable_udp = values[kReliableUdp].value_or(0);
  p.ml_feature_flags = values[kMlFeatures].value_or(0);

  // The client shrinks the packet by the 32-byte encryption header and keeps it AES-aligned.
  if (p.videoEncrypted() && p.packet_size % 16 != 0)
    return makeError("ANNOUNCE: {} value {} is not a multiple of 16 with video encryption on",
                     kSpecs[kPacketSize].name, p.packet_size);
  return p;
}

}  // namespace funkhaus::net::gamestream
