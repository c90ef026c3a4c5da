// The encoder benchmark's pieces: the clip rendered up front, the variants, one run through
// funkhaus's Encoder paced like capture, decoding and PSNR of what came out, and x264's own
// account of its settings. Bench main thread (the encoder runs its threads inside).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/bench/psnr.h"
#include "funkhaus/common/result.h"
#include "funkhaus/encode/encoder.h"

namespace funkhaus::bench {

// Frames 0..n-1 of the synthetic capture source's moving picture with its barcode (what
// funkhaus-capture --source synthetic sends), packed I420, rendered once.
class Clip {
 public:
  static Result<Clip> render(uint32_t width, uint32_t height, uint32_t frames);

  const abi::FrameGeometry& geometry() const { return geometry_; }
  uint32_t frames() const { return frames_; }
  std::span<const std::byte> frame(uint32_t index) const;
  // Plane 0..2 (Y, U, V) of frame `index`.
  PlaneView plane(uint32_t index, int plane) const;

 private:
  abi::FrameGeometry geometry_{};
  uint64_t frame_bytes_ = 0;
  uint32_t frames_ = 0;
  std::vector<std::byte> bytes_;
};

struct EncoderVariant {
  std::string key;
  std::string what;
  encode::EncoderConfig config;
};

// The variants over `base` (encoder, bitrate, fps, preset as given; the rest set per variant).
// The first, "sliced-auto", is the worker's setting before issue 15.
std::vector<EncoderVariant> encoderVariants(const encode::EncoderConfig& base);

// One access unit and where it came from.
struct EncodedUnit {
  uint32_t source = 0;  // clip frame index
  uint64_t due_ns = 0;  // the frame's deadline: when capture would have published it
  uint64_t out_ns = 0;  // when the encoder handed the unit to its sink
  bool idr = false;
  std::vector<std::byte> data;
};

struct EncoderRun {
  std::vector<EncodedUnit> units;  // in output order
  uint32_t handed_in = 0;          // frames given to the encoder
  uint32_t skipped = 0;  // frames that came due while the encoder was busy with an older one
  uint64_t cpu_ns = 0;   // this process's CPU time from the first frame's deadline to the end
  uint64_t wall_ns = 0;  // that span
  // What all CPUs of the machine were busy with in that span (/proc/stat, tick-based, so a
  // few % coarse), ns: beyond cpu_ns, that is everything else running beside the benchmark.
  uint64_t machine_busy_ns = 0;
  std::string x264_options;  // from the first unit's SEI; empty for other encoders
};

// Feeds the clip through an Encoder made from `config`, one frame per deadline (1/fps apart,
// absolute sleeps), each frame handed in at its deadline; when a deadline passed while the
// encoder was busy, only the latest due frame is handed in, as the encode stage takes the
// newest frame of its ring. Frames still inside the encoder at the end are not waited for.
Result<EncoderRun> runPaced(const Clip& clip, const encode::EncoderConfig& config);

// Decodes `units` in order with libavcodec's H.264 decoder and adds each decoded picture's error
// against its clip frame, for pictures whose source frame is at least `first_source`.
// `pictures` (optional) counts the pictures compared.
Result<SquaredError> qualityOf(const Clip& clip, const std::vector<EncodedUnit>& units,
                               uint32_t first_source, size_t* pictures = nullptr);

// x264's settings as it writes them into its user-data SEI ("x264 - core ... options: k=v ..."),
// from an Annex-B access unit; empty when the unit has none.
std::string x264OptionsText(std::span<const std::byte> access_unit);
std::map<std::string, std::string> parseX264Options(const std::string& text);

}  // namespace funkhaus::bench
