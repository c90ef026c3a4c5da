// FfmpegRecording: ffmpeg records a stream's audio to a WAV file (and, optionally, its video as
// raw 8-bit luma frames) while a test plays something into the host; afterwards the log gives the
// presentation time of the first audio sample and of every video frame (ffmpeg's ashowinfo and
// showinfo filters), so a test can line the two up. Test processes, one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"

namespace funkhaus::test {

struct FfmpegRecordingOptions {
  std::string input;                           // rtsp://... (over TCP), or any input ffmpeg reads
  double seconds = 5;                          // -t: how much of the stream is written
  std::filesystem::path wav;                   // the audio: 32-bit float WAV, the stream's channels
  std::optional<std::filesystem::path> video;  // the video: width x height gray frames
  uint32_t width = 0, height = 0;              // with `video`: the size frames are scaled to
  std::filesystem::path log;  // ffmpeg's stderr (loglevel info, the filters' lines)
};

class FfmpegRecording {
 public:
  // Starts ffmpeg: -rtsp_transport tcp (for rtsp://) -i INPUT -map 0:a -t S -c:a pcm_f32le WAV
  // [-map 0:v -t S -f rawvideo -pix_fmt gray VIDEO]. started_ns: CLOCK_MONOTONIC just before.
  static Result<FfmpegRecording> start(const FfmpegRecordingOptions& options);

  // Waits up to `timeout` for ffmpeg to finish; an error with its log's tail when it failed or
  // did not finish in time (then it is killed).
  Result<void> wait(std::chrono::milliseconds timeout);

  int64_t startedNs() const { return started_ns_; }
  std::string log() const;
  // Presentation times (s) the filters logged: of the first audio frame and of each video frame
  // in the file (frame i of the file at videoPts()[i]).
  std::optional<double> firstAudioPts() const;
  // Each audio frame ashowinfo logged: its presentation time (s) and how many samples it holds,
  // in file order (the WAV file's samples are these frames' one after another).
  struct AudioFrame {
    double pts = 0;
    uint64_t samples = 0;
  };
  std::vector<AudioFrame> audioFrames() const;
  std::vector<double> videoPts() const;

  // Whether ffmpeg is on PATH.
  static bool available();

 private:
  FfmpegRecording(ChildProcess process, FfmpegRecordingOptions options, int64_t started_ns)
      : process_(std::move(process)), options_(std::move(options)), started_ns_(started_ns) {}

  ChildProcess process_;
  FfmpegRecordingOptions options_;
  int64_t started_ns_ = 0;
};

}  // namespace funkhaus::test
