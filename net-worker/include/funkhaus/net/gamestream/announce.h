// GameStream ANNOUNCE: the stream parameters a Moonlight client sends as `a=name:value` lines in
// the SDP body of its RTSP ANNOUNCE (gamestream.md §4.4). funkhaus-net main thread (and fuzz).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "funkhaus/abi/codec.h"
#include "funkhaus/common/result.h"

namespace funkhaus::net::gamestream {

// Bounds of an ANNOUNCE body; Moonlight's is about 2 KB with lines under 100 bytes.
inline constexpr size_t kMaxAnnounceBody = 16 * 1024;
inline constexpr size_t kMaxAnnounceLine = 1024;

// x-nv-vqos[0].bitStreamFormat (the wire numbering, not abi::Codec's).
enum class VideoFormat : uint32_t { kH264 = 0, kHevc = 1, kAv1 = 2 };

// The abi codec id of a video format; nullopt for AV1, which no funkhaus encoder produces yet.
std::optional<abi::Codec> abiCodec(VideoFormat format);

// Colour space half of x-nv-video[0].encoderCscMode (value >> 1); the low bit is the range.
enum class CscColourSpace : uint32_t { kBt601 = 0, kBt709 = 1, kBt2020 = 2 };

// Bits of x-ss-general.encryptionSupported / .encryptionRequested (DESCRIBE, host) and
// x-ss-general.encryptionEnabled (ANNOUNCE, client).
inline constexpr uint32_t kEncryptionControlV2 = 0x01;  // control stream with V2 IVs
inline constexpr uint32_t kEncryptionVideo = 0x02;
inline constexpr uint32_t kEncryptionAudio = 0x04;
inline constexpr uint32_t kEncryptionAll = 0x07;

// Bits of x-nv-general.featureFlags (ANNOUNCE).
inline constexpr uint32_t kNvFeatureAudioEncryption = 0x20;
inline constexpr uint32_t kNvFeatureInputEncryption = 0x80;

// Bits of x-ml-general.featureFlags (ANNOUNCE).
inline constexpr uint32_t kMlFeatureFecStatus = 0x01;    // client sends frame FEC status
inline constexpr uint32_t kMlFeatureSessionIdV1 = 0x02;  // ping payload + connect data used

// What the host needs from one ANNOUNCE. Fields of optional attributes hold the value a client
// that omits them means (Moonlight at appversion 7.1.431 sends all of them).
struct StreamParams {
  // Required: x-nv-video[0].clientViewportWd / .clientViewportHt (1..8192, even),
  // x-nv-video[0].maxFPS (1..480), x-nv-video[0].packetSize (64..9000; a multiple of 16 when
  // video encryption is on), x-nv-vqos[0].bitStreamFormat (0..2).
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t fps = 0;
  uint32_t packet_size = 0;  // NV header + payload per video packet (gamestream.md §6.1)
  VideoFormat video_format = VideoFormat::kH264;

  // Encoder target: x-ml-video.configuredBitrateKbps (the user's full bitrate, a Sunshine
  // extension) when present, else x-nv-vqos[0].bw.maximumBitrateKbps; one of them is required.
  uint32_t bitrate_kbps = 0;
  bool bitrate_configured = false;  // true: from configuredBitrateKbps

  bool hdr = false;     // x-nv-video[0].dynamicRangeMode 1 (10-bit)
  bool yuv444 = false;  // x-ss-video[0].chromaSamplingType 1
  CscColourSpace colour_space = CscColourSpace::kBt601;  // x-nv-video[0].encoderCscMode >> 1
  bool full_range = false;                               // x-nv-video[0].encoderCscMode & 1
  uint32_t max_reference_frames = 0;    // x-nv-video[0].maxNumReferenceFrames (0 = any, 0..16)
  uint32_t slices_per_frame = 1;        // x-nv-video[0].videoEncoderSlicesPerFrame (1..255)
  uint32_t refresh_rate_x100 = 0;       // x-nv-video[0].clientRefreshRateX100 (0 = unknown)
  uint32_t min_fec_packets = 0;         // x-nv-vqos[0].fec.minRequiredFecPackets (0..255)
  uint32_t video_qos_traffic_type = 0;  // x-nv-vqos[0].qosTrafficType (0 = no DSCP tag)

  uint32_t audio_channels = 2;            // x-nv-audio.surround.numChannels (1..8)
  uint32_t audio_channel_mask = 0x3;      // x-nv-audio.surround.channelMask (WAVE mask)
  bool audio_high_quality = false;        // x-nv-audio.surround.AudioQuality 1
  uint32_t audio_packet_duration_ms = 5;  // x-nv-aqos.packetDuration (5 or 10)
  uint32_t audio_qos_traffic_type = 0;    // x-nv-aqos.qosTrafficType

  uint32_t nv_feature_flags = 0;    // x-nv-general.featureFlags (kNvFeature*)
  uint32_t encryption_enabled = 0;  // x-ss-general.encryptionEnabled (kEncryption*)
  uint32_t reliable_udp = 0;        // x-nv-general.useReliableUdp (13 = encrypted control)
  uint32_t ml_feature_flags = 0;    // x-ml-general.featureFlags (kMlFeature*)

  bool videoEncrypted() const { return (encryption_enabled & kEncryptionVideo) != 0; }
  // Either of the two ways a client turns audio encryption on.
  bool audioEncrypted() const {
    return (encryption_enabled & kEncryptionAudio) != 0 ||
           (nv_feature_flags & kNvFeatureAudioEncryption) != 0;
  }

  friend bool operator==(const StreamParams&, const StreamParams&) = default;
};

// Reads an ANNOUNCE body: `a=<name>:<value>` lines, CRLF or LF, trailing spaces tolerated; other
// lines (v=, o=, s=, t=, m=) and unknown attributes are ignored. Numbers are plain decimal.
// Errors name the attribute: a required one missing, a known one given twice, not a number or
// out of range. Nothing is clamped. Bodies over kMaxAnnounceBody and lines over
// kMaxAnnounceLine are refused.
Result<StreamParams> parseAnnounce(std::string_view sdp_body);

}  // namespace funkhaus::net::gamestream
