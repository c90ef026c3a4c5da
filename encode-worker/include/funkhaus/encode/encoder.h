// Encoder: one libavcodec video encoder (x264/x265, or NVENC/VAAPI/QSV where present) with
// low-latency settings, reading frames in place from frame-ring slots. Encode worker main thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/common/media/nal.h"
#include "funkhaus/common/result.h"

namespace funkhaus::encode {

// Codec ids and the Annex-B parser are the one media module's (funkhaus/common/media/nal.h).
using media::AccessUnitInfo;
using media::Codec;
using media::parseAccessUnit;

struct EncoderConfig {
  std::string encoder = "libx264";   // libx264 libx265 h264_nvenc hevc_nvenc h264_vaapi h264_qsv
  uint64_t bitrate = 8'000'000;      // bits per second, constant
  uint32_t fps = 60;                 // frame rate: time base, VBV size (one frame), repeats
  std::string preset = "superfast";  // an x264/x265 preset name; mapped for hardware encoders
  // Rate control, every encoder: the VBV buffer in frames of the rate (bitrate / fps each);
  // 0: no VBV at all (average bitrate only, no cap). bench/README.md "Encoder settings".
  uint32_t vbv_frames = 1;
  // libx264 only (the other encoders ignore these). The defaults are tune zerolatency's.
  uint32_t threads = 0;        // x264 threads; 0: auto (x264 picks for this machine's cores)
  bool sliced_threads = true;  // false: frame threads (each thread adds a frame of delay)
  bool zerolatency = true;     // tune zerolatency (libx264 and libx265)
  int32_t lookahead = -1;      // x264 rc-lookahead in frames; -1: what preset and tune give
};

inline constexpr uint64_t kMinBitrate = 100'000;
inline constexpr uint64_t kMaxBitrate = 1'000'000'000;
inline constexpr uint32_t kMaxFps = 240;
inline constexpr uint32_t kMaxVbvFrames = 600;
inline constexpr uint32_t kMaxEncoderThreads = 64;
inline constexpr int32_t kMaxLookahead = 250;  // x264's own limit

// Checks names and ranges; the error says which value is wrong and what is allowed.
Result<void> validateConfig(const EncoderConfig& config);
Result<void> validateBitrate(uint64_t bitrate);

// The codec an encoder name produces, and the software encoder of that codec.
Result<Codec> codecOf(const std::string& encoder);
const char* softwareEncoderFor(Codec codec);
// The encoder of `codec` in the family of `encoder` (h264_nvenc -> hevc_nvenc), or the software
// one for `codec` when that family has none. Errors: `codec` is not a codec funkhaus encodes.
Result<std::string> encoderForCodec(const std::string& encoder, uint32_t codec);

// Routes libavcodec's log (and libx264's, which goes through it) into spdlog. Process-wide.
void routeLibavLogToSpdlog();

// A picture in shared memory that the encoder reads in place (no copy into libavcodec: it is
// wrapped in a refcounted AVBuffer, so avcodec_send_frame only takes a reference).
struct Picture {
  abi::FrameGeometry geometry{};       // validated by the ring (planes inside `payload`)
  std::span<const std::byte> payload;  // the slot payload the geometry's offsets point into
  uint64_t capture_time_ns = 0;
  // The slot header's colour (abi::ColourSpace; unspecified: the policy of the format). A
  // colour the format cannot have is refused.
  uint32_t colour = 0;
  // Called exactly once, possibly on another thread, when neither libavcodec nor the encoder
  // refers to `payload` any more. The caller then gives the slot back to the ring.
  std::function<void()> on_release;
};

// One encoded access unit, Annex-B, parameter sets in-band before every IDR.
struct AccessUnit {
  std::span<const std::byte> data;  // valid until the next call into the encoder
  bool idr = false;                 // holds an IDR slice (found in the bitstream, not guessed)
  bool repeat = false;              // a repeat of the previous picture
  int64_t pts = 0;                  // in 1/fps units
  int64_t dts = 0;                  // equal to pts: no B-frames, decode order = display order
  uint64_t capture_time_ns = 0;     // of the picture
};

using AccessUnitSink = std::function<void(const AccessUnit&)>;

class Encoder {
 public:
  // Resolves the encoder: a hardware encoder is probed (opened once at a nominal size); if it
  // is absent, the software encoder of the same codec is used instead and ONE warning names
  // what was asked, why it failed and what is used. The software encoder is probed too, so a
  // bad preset fails here. The real encoder opens on the first picture (it needs the size).
  static Result<Encoder> create(const EncoderConfig& config);

  Encoder(Encoder&& other) noexcept;
  Encoder& operator=(Encoder&& other) noexcept;
  ~Encoder();

  const std::string& name() const;            // the encoder in use, e.g. "libx264"
  const std::string& requested() const;       // what the configuration asked for
  const std::string& fallbackReason() const;  // why the requested one is not used; empty if it is
  Codec codec() const;
  const EncoderConfig& config() const;

  // Encodes `picture` and hands the resulting access units to `sink`. Keeps the picture
  // referenced for repeatLast() (the previously kept one is let go). A geometry (size or pixel
  // format) different from the previous picture's reopens the encoder: the next unit is an
  // IDR. On error the picture is let go and the encoder reopens on the next picture.
  Result<void> encode(Picture picture, const AccessUnitSink& sink);

  // Encodes the kept picture again, with the next pts and `capture_time_ns`.
  Result<void> repeatLast(uint64_t capture_time_ns, const AccessUnitSink& sink);
  bool hasLast() const;
  // Lets go of the kept picture (it is released once libavcodec is done with it too).
  void dropLast();

  // The next encoded picture is an IDR with parameter sets.
  void requestKeyframe();
  // Applied from the next picture on: in place for libx264 (its wrapper reconfigures x264 when
  // the rate fields change), by reopening (and so an IDR) for the others.
  Result<void> setBitrate(uint64_t bitrate);

  struct Stats {
    uint64_t opens = 0;              // encoder (re)opens
    uint64_t pictures = 0;           // pictures sent, repeats included
    uint64_t in_place = 0;           // sent with data[] pointing into the caller's payload
    uint64_t converted = 0;          // converted (swscale) into an encoder-owned frame first
    uint64_t idr = 0;                // access units holding an IDR
    uint64_t bitrate_reconfigs = 0;  // bitrate changes applied in place
    // data[] of the last picture handed to avcodec_send_frame, and the refcount of its buffer
    // just before the call (our kept reference + the one being sent).
    const void* last_sent_data[abi::kMaxPlanes] = {};
    int last_sent_refcount = 0;
  };
  const Stats& stats() const;

 private:
  struct Impl;
  explicit Encoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace funkhaus::encode
