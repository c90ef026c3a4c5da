// The table of known encoders, preset names, and the validation of an EncoderConfig.
#include "encoder_names.h"

#include <iterator>

namespace funkhaus::encode {
namespace {

constexpr KnownEncoder kKnownEncoders[] = {
    {"libx264", Codec::kH264, Family::kX264},     {"libx265", Codec::kHevc, Family::kX265},
    {"h264_nvenc", Codec::kH264, Family::kNvenc}, {"hevc_nvenc", Codec::kHevc, Family::kNvenc},
    {"h264_vaapi", Codec::kH264, Family::kVaapi}, {"h264_qsv", Codec::kH264, Family::kQsv},
};

constexpr const char* kPresets[] = {"ultrafast", "superfast", "veryfast", "faster",   "fast",
                                    "medium",    "slow",      "slower",   "veryslow", "placebo"};

}  // namespace

const KnownEncoder* findKnown(const std::string& name) {
  for (const auto& k : kKnownEncoders)
    if (name == k.name) return &k;
  return nullptr;
}

int presetIndex(const std::string& preset) {
  for (size_t i = 0; i < std::size(kPresets); ++i)
    if (preset == kPresets[i]) return static_cast<int>(i);
  return -1;
}

Result<Codec> codecOf(const std::string& encoder) {
  const KnownEncoder* k = findKnown(encoder);
  if (k == nullptr)
    return makeError(
        "unknown encoder '{}' (known: libx264, libx265, h264_nvenc, hevc_nvenc, h264_vaapi, "
        "h264_qsv)",
        encoder);
  return k->codec;
}

const char* softwareEncoderFor(Codec codec) {
  return codec == Codec::kHevc ? "libx265" : "libx264";
}

Result<std::string> encoderForCodec(const std::string& encoder, uint32_t codec_id) {
  const auto codec = media::codecFromId(codec_id);
  if (!codec || *codec == Codec::kNone)
    return makeError("codec {} is not one funkhaus encodes", codec_id);
  const KnownEncoder* current = findKnown(encoder);
  if (current != nullptr && current->codec == *codec) return encoder;
  for (const auto& k : kKnownEncoders)
    if (current != nullptr && k.family == current->family && k.codec == *codec)
      return std::string(k.name);
  return std::string(softwareEncoderFor(*codec));
}

Result<void> validateBitrate(uint64_t bitrate) {
  if (bitrate < kMinBitrate || bitrate > kMaxBitrate)
    return makeError("bitrate {} bit/s is out of range ({}..{})", bitrate, kMinBitrate,
                     kMaxBitrate);
  return {};
}

Result<void> validateConfig(const EncoderConfig& config) {
  if (auto codec = codecOf(config.encoder); !codec) return codec.error();
  if (auto b = validateBitrate(config.bitrate); !b) return b;
  if (config.fps < 1 || config.fps > kMaxFps)
    return makeError("fps {} is out of range (1..{})", config.fps, kMaxFps);
  if (presetIndex(config.preset) < 0)
    return makeError(
        "unknown preset '{}' (ultrafast, superfast, veryfast, faster, fast, medium, slow, "
        "slower, veryslow, placebo)",
        config.preset);
  if (config.vbv_frames > kMaxVbvFrames)
    return makeError("vbv_frames {} is out of range (0..{})", config.vbv_frames, kMaxVbvFrames);
  if (config.threads > kMaxEncoderThreads)
    return makeError("threads {} is out of range (0: auto, 1..{})", config.threads,
                     kMaxEncoderThreads);
  if (config.lookahead < -1 || config.lookahead > kMaxLookahead)
    return makeError("lookahead {} is out of range (-1: the preset's, 0..{})", config.lookahead,
                     kMaxLookahead);
  return {};
}

}  // namespace funkhaus::encode
