// Audio end to end (label client): the tools the audio tests decode with, checked on a known
// signal first: ffmpeg (ffmpeg_recording.h) records a file's Opus audio and its video, and the
// tone analysis (funkhaus/test/audio_analysis.h) finds the tone, its frequency, its level and the
// silence around it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <string>

#include "ffmpeg_recording.h"
#include "funkhaus/test/audio_analysis.h"
#include "funkhaus/test/shell.h"

namespace funkhaus {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int kRate = 48000;

// The test signal: `before` s of silence, a 1 kHz tone of peak `amplitude` on every channel for
// `tone` s (5 ms raised-cosine ramps, so no click spreads energy), then `after` s of silence.
test::PcmAudio toneFile(int channels, double before, double tone, double after, double amplitude) {
  test::PcmAudio a;
  a.sample_rate = kRate;
  a.channels = channels;
  const auto n_before = static_cast<size_t>(before * kRate);
  const auto n_tone = static_cast<size_t>(tone * kRate);
  const auto n_after = static_cast<size_t>(after * kRate);
  const size_t ramp = kRate / 200;
  a.samples.assign((n_before + n_tone + n_after) * static_cast<size_t>(channels), 0.0f);
  for (size_t i = 0; i < n_tone; ++i) {
    double gain = 1;
    if (i < ramp) gain = 0.5 - 0.5 * std::cos(std::numbers::pi * static_cast<double>(i) / ramp);
    if (n_tone - 1 - i < ramp)
      gain = 0.5 - 0.5 * std::cos(std::numbers::pi * static_cast<double>(n_tone - 1 - i) / ramp);
    const auto v = static_cast<float>(
        gain * amplitude * std::sin(2 * std::numbers::pi * 1000 * static_cast<double>(i) / kRate));
    for (int c = 0; c < channels; ++c) a.samples[(n_before + i) * channels + c] = v;
  }
  return a;
}

class AudioToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::FfmpegRecording::available()) GTEST_SKIP() << "ffmpeg is needed";
    dir_ = fs::temp_directory_path() / ("funkhaus-audio-client-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

// A 3 s 1 kHz tone at -12 dBFS peak between 1 s silences, encoded to Opus (128 kbit/s) beside a
// 30 fps test picture: the recording has the tone at 1 kHz within 1 dB of the source, silence
// (below -60 dBFS) before and after, and the picture's frames with their times.
TEST_F(AudioToolsTest, FfmpegRecordsOpusAudioAndVideoThatTheAnalysisReadsBack) {
  const double amplitude = std::pow(10.0, -12.0 / 20);
  ASSERT_TRUE(test::writeWav((dir_ / "source.wav").string(), toneFile(2, 1, 3, 1, amplitude),
                             test::WavFormat::kS16)
                  .ok());
  const test::ShellRun encoded = test::runShell(
      "ffmpeg -hide_banner -nostdin -loglevel error -i '" + (dir_ / "source.wav").string() +
      "' -f lavfi -i testsrc=size=160x120:rate=30:duration=5 -c:a libopus -b:a 128k -c:v mpeg4 "
      "-shortest '" +
      (dir_ / "source.mkv").string() + "' 2>&1");
  ASSERT_TRUE(encoded.ok()) << encoded.out;

  test::FfmpegRecordingOptions o;
  o.input = (dir_ / "source.mkv").string();
  o.seconds = 4.5;
  o.wav = dir_ / "audio.wav";
  o.video = dir_ / "video.gray";
  o.width = 80;
  o.height = 60;
  o.log = dir_ / "ffmpeg.log";
  auto recording = test::FfmpegRecording::start(o);
  ASSERT_TRUE(recording.ok()) << recording.error().message;
  auto done = recording->wait(30s);
  ASSERT_TRUE(done.ok()) << done.error().message;

  auto wav = test::readWav(o.wav.string());
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  EXPECT_EQ(wav->sample_rate, kRate);
  ASSERT_EQ(wav->channels, 2);
  EXPECT_NEAR(static_cast<double>(wav->frames()) / kRate, 4.5, 0.03);
  for (int c = 0; c < 2; ++c) {
    const std::vector<float> x = wav->channel(c);
    auto tone = test::findTone(x, kRate, -40);
    ASSERT_TRUE(tone.has_value()) << "channel " << c;
    // Opus' look-ahead may shift the start by a few ms; the source's tone starts at 1 s.
    EXPECT_NEAR(static_cast<double>(tone->start) / kRate, 1.0, 0.02) << c;
    EXPECT_NEAR(static_cast<double>(tone->end - tone->start) / kRate, 3.0, 0.02) << c;
    EXPECT_NEAR(tone->dominant_hz, 1000.0, 1.0) << c;
    EXPECT_NEAR(tone->level_dbfs, test::sineDbfs(amplitude), 1.0) << c;
    EXPECT_TRUE(test::isSilent(x, 0, tone->start - kRate / 50, -60)) << c;
    EXPECT_TRUE(test::isSilent(x, tone->end + kRate / 50, x.size(), -60)) << c;
    std::printf(
        "[figures] ffmpeg Opus round trip, channel %d: tone %.3f..%.3f s, %.2f Hz, "
        "%.2f dBFS (source %.2f)\n",
        c, static_cast<double>(tone->start) / kRate, static_cast<double>(tone->end) / kRate,
        tone->dominant_hz, tone->level_dbfs, test::sineDbfs(amplitude));
  }
  // The video: 4.5 s at 30 fps of 80x60 frames, each with its time in the log.
  const std::vector<double> pts = recording->videoPts();
  EXPECT_NEAR(static_cast<double>(pts.size()), 135, 2);
  EXPECT_EQ(fs::file_size(*o.video), pts.size() * 80 * 60);
  ASSERT_FALSE(pts.empty());
  EXPECT_NEAR(pts[1] - pts[0], 1.0 / 30, 1e-3);
  ASSERT_TRUE(recording->firstAudioPts().has_value()) << recording->log();
  EXPECT_NEAR(*recording->firstAudioPts(), 0.0, 0.05);
}

}  // namespace
}  // namespace funkhaus
