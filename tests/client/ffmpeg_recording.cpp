// FfmpegRecording: ffmpeg through ChildProcess, its stderr in a log file (ffmpeg_recording.h).
#include "ffmpeg_recording.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "funkhaus/common/unique_fd.h"

namespace funkhaus::test {

namespace {

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The pts_time values of the log lines from the filter named `filter` (e.g. "Parsed_ashowinfo").
std::vector<double> ptsTimes(const std::string& log, const std::string& filter) {
  std::vector<double> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find(filter) == std::string::npos) continue;
    const size_t at = line.find("pts_time:");
    if (at == std::string::npos) continue;
    char* end = nullptr;
    const double t = std::strtod(line.c_str() + at + 9, &end);
    if (end != line.c_str() + at + 9) out.push_back(t);
  }
  return out;
}

}  // namespace

bool FfmpegRecording::available() { return std::system("command -v ffmpeg > /dev/null") == 0; }

Result<FfmpegRecording> FfmpegRecording::start(const FfmpegRecordingOptions& o) {
  if (o.video && (o.width == 0 || o.height == 0))
    return makeError("ffmpeg recording: a video file needs a width and a height");
  const std::string seconds = std::to_string(o.seconds);
  std::vector<std::string> args = {"-hide_banner", "-nostdin", "-loglevel", "info", "-y"};
  if (o.input.rfind("rtsp://", 0) == 0) args.insert(args.end(), {"-rtsp_transport", "tcp"});
  args.insert(args.end(), {"-i", o.input, "-map", "0:a", "-t", seconds, "-af", "ashowinfo", "-c:a",
                           "pcm_f32le", "-f", "wav", o.wav.string()});
  if (o.video)
    args.insert(args.end(),
                {"-map", "0:v", "-t", seconds, "-fps_mode", "passthrough", "-vf",
                 "showinfo,scale=" + std::to_string(o.width) + ":" + std::to_string(o.height), "-f",
                 "rawvideo", "-pix_fmt", "gray", o.video->string()});
  UniqueFd log(::open(o.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!log.valid()) return makeError("ffmpeg recording: cannot create {}", o.log.string());
  ChildSpec spec;
  spec.program = "ffmpeg";
  spec.args = std::move(args);
  spec.stdout_fd = log.get();
  spec.stderr_fd = log.get();
  const int64_t started = monotonicNs();
  auto process = ChildProcess::spawn(spec);
  if (!process) return process.error();
  return FfmpegRecording(std::move(*process), o, started);
}

Result<void> FfmpegRecording::wait(std::chrono::milliseconds timeout) {
  auto status = process_.wait(timeout);
  if (!status) {
    process_.stop(std::chrono::milliseconds(1000));
    return makeError("ffmpeg did not finish in {} ms:\n{}", timeout.count(), log());
  }
  if (status->signaled || status->code != 0)
    return makeError("ffmpeg failed ({}):\n{}", describeExit(*status), log());
  return {};
}

std::string FfmpegRecording::log() const {
  std::ifstream in(options_.log);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::optional<double> FfmpegRecording::firstAudioPts() const {
  const std::vector<double> pts = ptsTimes(log(), "Parsed_ashowinfo");
  if (pts.empty()) return std::nullopt;
  return pts.front();
}

std::vector<FfmpegRecording::AudioFrame> FfmpegRecording::audioFrames() const {
  std::vector<AudioFrame> out;
  std::istringstream in(log());
  for (std::string line; std::getline(in, line);) {
    if (line.find("Parsed_ashowinfo") == std::string::npos) continue;
    const size_t at = line.find("pts_time:");
    const size_t n = line.find("nb_samples:");
    if (at == std::string::npos || n == std::string::npos) continue;
    AudioFrame f;
    f.pts = std::strtod(line.c_str() + at + 9, nullptr);
    f.samples = std::strtoull(line.c_str() + n + 11, nullptr, 10);
    out.push_back(f);
  }
  return out;
}

std::vector<double> FfmpegRecording::videoPts() const {
  std::vector<double> pts = ptsTimes(log(), "Parsed_showinfo");
  // The filter also saw the frames decoded after -t was reached: keep those in the file.
  std::error_code ec;
  const uintmax_t bytes = options_.video ? std::filesystem::file_size(*options_.video, ec) : 0;
  const uintmax_t frame = uintmax_t{options_.width} * options_.height;
  const size_t written = ec || frame == 0 ? 0 : static_cast<size_t>(bytes / frame);
  if (pts.size() > written) pts.resize(written);
  return pts;
}

}  // namespace funkhaus::test
