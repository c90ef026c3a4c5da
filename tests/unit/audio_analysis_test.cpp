// The audio tests' WAV reader/writer and tone measurements (funkhaus/test/audio_analysis.h)
// against generated signals and hand-made files whose answers are known exactly.
#include "funkhaus/test/audio_analysis.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

namespace funkhaus::test {
namespace {

namespace fs = std::filesystem;

constexpr int kRate = 48000;

// `frames` samples of A*sin(2*pi*hz*t + phase).
std::vector<float> sine(double hz, double amplitude, size_t frames, double phase = 0) {
  std::vector<float> out(frames);
  for (size_t i = 0; i < frames; ++i)
    out[i] = static_cast<float>(
        amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / kRate + phase));
  return out;
}

class AudioAnalysisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("funkhaus-audio-analysis-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void writeBytes(const std::string& name, const std::vector<uint8_t>& bytes) const {
    std::ofstream(path(name), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
  fs::path dir_;
};

void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void tag(std::vector<uint8_t>& b, const char* t) { b.insert(b.end(), t, t + 4); }

TEST_F(AudioAnalysisTest, ReadsAHandMadeS16FileWithAnExtraChunk) {
  // Stereo s16, a LIST chunk of odd size (padded) before the data, as ffmpeg writes one.
  std::vector<uint8_t> b;
  tag(b, "RIFF");
  put32(b, 0);  // the RIFF size is not checked
  tag(b, "WAVE");
  tag(b, "fmt ");
  put32(b, 16);
  put16(b, 1);
  put16(b, 2);
  put32(b, 44100);
  put32(b, 44100 * 4);
  put16(b, 4);
  put16(b, 16);
  tag(b, "LIST");
  put32(b, 3);
  b.insert(b.end(), {'a', 'b', 'c', 0});
  tag(b, "data");
  put32(b, 8);
  for (int16_t v : {int16_t{16384}, int16_t{-32768}, int16_t{1}, int16_t{32767}})
    put16(b, static_cast<uint16_t>(v));
  writeBytes("s16.wav", b);
  auto wav = readWav(path("s16.wav"));
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  EXPECT_EQ(wav->sample_rate, 44100);
  EXPECT_EQ(wav->channels, 2);
  ASSERT_EQ(wav->frames(), 2u);
  EXPECT_EQ(wav->samples, (std::vector<float>{0.5f, -1.0f, 1.0f / 32768, 32767.0f / 32768}));
  EXPECT_EQ(wav->channel(1), (std::vector<float>{-1.0f, 32767.0f / 32768}));
  EXPECT_TRUE(wav->channel(2).empty());
}

TEST_F(AudioAnalysisTest, ReadsExtensibleFloatWithAnUnpatchedDataSize) {
  // WAVE_FORMAT_EXTENSIBLE, 6 channels, IEEE float sub-format; the data size left at 0 and a
  // trailing half frame (a writer killed before it finished): the whole frames are read.
  std::vector<uint8_t> b;
  tag(b, "RIFF");
  put32(b, 0);
  tag(b, "WAVE");
  tag(b, "fmt ");
  put32(b, 40);
  put16(b, 0xFFFE);
  put16(b, 6);
  put32(b, 48000);
  put32(b, 48000 * 24);
  put16(b, 24);
  put16(b, 32);
  put16(b, 22);
  put16(b, 32);
  put32(b, 0x3F);
  put16(b, 3);  // KSDATAFORMAT_SUBTYPE_IEEE_FLOAT: 00000003-0000-0010-8000-00aa00389b71
  b.insert(b.end(), {0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71});
  tag(b, "data");
  put32(b, 0);
  std::vector<float> samples;
  for (int i = 0; i < 15; ++i) samples.push_back(static_cast<float>(i) / 16 - 0.25f);
  for (float v : samples) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    put32(b, bits);
  }
  writeBytes("ext.wav", b);
  auto wav = readWav(path("ext.wav"));
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  EXPECT_EQ(wav->channels, 6);
  ASSERT_EQ(wav->frames(), 2u);
  EXPECT_EQ(wav->samples, std::vector<float>(samples.begin(), samples.begin() + 12));
  EXPECT_EQ(wav->channel(5), (std::vector<float>{5.0f / 16 - 0.25f, 11.0f / 16 - 0.25f}));
}

TEST_F(AudioAnalysisTest, RefusesWhatItCannotRead) {
  writeBytes("short.wav", {'R', 'I', 'F', 'F'});
  EXPECT_FALSE(readWav(path("short.wav")).ok());
  EXPECT_FALSE(readWav(path("missing.wav")).ok());
  // 24-bit PCM is not read.
  std::vector<uint8_t> b;
  tag(b, "RIFF");
  put32(b, 0);
  tag(b, "WAVE");
  tag(b, "fmt ");
  put32(b, 16);
  put16(b, 1);
  put16(b, 1);
  put32(b, 48000);
  put32(b, 48000 * 3);
  put16(b, 3);
  put16(b, 24);
  tag(b, "data");
  put32(b, 3);
  b.insert(b.end(), {1, 2, 3});
  writeBytes("s24.wav", b);
  auto s24 = readWav(path("s24.wav"));
  ASSERT_FALSE(s24.ok());
  EXPECT_NE(s24.error().message.find("24 bits"), std::string::npos) << s24.error().message;
}

TEST_F(AudioAnalysisTest, WritesAndReadsBackFloatExactlyAndS16Rounded) {
  PcmAudio audio;
  audio.channels = 8;
  for (int i = 0; i < 8 * 100; ++i)
    audio.samples.push_back(std::sin(0.37f * static_cast<float>(i)));
  audio.samples[3] = 1.5f;  // clipped in s16
  ASSERT_TRUE(writeWav(path("f32.wav"), audio).ok());
  auto f32 = readWav(path("f32.wav"));
  ASSERT_TRUE(f32.ok()) << f32.error().message;
  EXPECT_EQ(f32->channels, 8);
  EXPECT_EQ(f32->sample_rate, 48000);
  EXPECT_EQ(f32->samples, audio.samples);
  EXPECT_EQ(fs::file_size(path("f32.wav")), 44u + 8 * 100 * 4);

  ASSERT_TRUE(writeWav(path("s16.wav"), audio, WavFormat::kS16).ok());
  auto s16 = readWav(path("s16.wav"));
  ASSERT_TRUE(s16.ok()) << s16.error().message;
  ASSERT_EQ(s16->samples.size(), audio.samples.size());
  EXPECT_EQ(s16->samples[3], 32767.0f / 32768);
  for (size_t i = 0; i < audio.samples.size(); ++i) {
    const double clipped = std::min(double{audio.samples[i]}, 32767.0 / 32768);
    EXPECT_NEAR(s16->samples[i], clipped, 0.5 / 32768 + 1e-9) << i;
  }

  // Streamed: the sizes are patched on close; a partial frame is refused.
  WavWriter writer;
  ASSERT_TRUE(writer.open(path("stream.wav"), 44100, 2).ok());
  EXPECT_FALSE(writer.append(std::vector<float>{0.1f, 0.2f, 0.3f}).ok());
  ASSERT_TRUE(writer.append(std::vector<float>{0.1f, 0.2f}).ok());
  ASSERT_TRUE(writer.append(std::vector<float>{0.3f, 0.4f, 0.5f, 0.6f}).ok());
  EXPECT_EQ(writer.framesWritten(), 3u);
  ASSERT_TRUE(writer.close().ok());
  auto streamed = readWav(path("stream.wav"));
  ASSERT_TRUE(streamed.ok()) << streamed.error().message;
  EXPECT_EQ(streamed->sample_rate, 44100);
  EXPECT_EQ(streamed->samples, (std::vector<float>{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}));
  std::ifstream in(path("stream.wav"), std::ios::binary);
  std::vector<uint8_t> head(44);
  in.read(reinterpret_cast<char*>(head.data()), 44);
  EXPECT_EQ(head[40], 24);  // data size: 6 floats
  EXPECT_EQ(head[4], 36 + 24);
}

TEST_F(AudioAnalysisTest, LevelsInDbfs) {
  EXPECT_NEAR(rmsDbfs(sine(1000, 1.0, 48000)), -3.0103, 1e-3);
  EXPECT_NEAR(rmsDbfs(sine(1000, 0.5, 48000)), -9.0309, 1e-3);
  EXPECT_NEAR(sineDbfs(0.5), -9.0309, 1e-4);
  EXPECT_NEAR(rmsDbfs(std::vector<float>(100, 0.1f)), -20.0, 1e-5);
  EXPECT_NEAR(rmsDbfs(std::vector<float>{1.0f, -1.0f}), 0.0, 1e-9);
  EXPECT_EQ(rmsDbfs(std::vector<float>(10, 0.0f)), kSilenceDbfs);
  EXPECT_EQ(rmsDbfs({}), kSilenceDbfs);
  EXPECT_NEAR(peakDbfs(std::vector<float>{0.01f, -0.1f, 0.05f}), -20.0, 1e-5);
  // A tone at -20 dB below another is 20 dB lower in level.
  EXPECT_NEAR(rmsDbfs(sine(440, 0.05, 48000)) - rmsDbfs(sine(440, 0.5, 48000)), -20.0, 1e-3);
}

TEST_F(AudioAnalysisTest, DominantFrequencyOfTonesOnAndOffTheBins) {
  for (double hz : {1000.0, 1234.5, 230.0, 3330.0, 997.3, 15000.0}) {
    const auto f = dominantFrequency(sine(hz, 0.3, 48000, 0.7), kRate);
    ASSERT_TRUE(f.has_value()) << hz;
    EXPECT_NEAR(*f, hz, 0.05) << hz;
  }
  // A short span (100 ms, 10 Hz bins) still finds it well within a bin.
  EXPECT_NEAR(dominantFrequency(sine(1003.0, 0.3, 4800), kRate).value_or(0), 1003.0, 0.5);
  // The stronger of two tones wins; the range excludes it if asked.
  std::vector<float> two = sine(1000, 0.5, 48000);
  const std::vector<float> weak = sine(3000, 0.05, 48000);
  for (size_t i = 0; i < two.size(); ++i) two[i] += weak[i];
  EXPECT_NEAR(dominantFrequency(two, kRate).value_or(0), 1000.0, 0.05);
  EXPECT_NEAR(dominantFrequency(two, kRate, 2000.0).value_or(0), 3000.0, 0.05);
  // No answer without energy or samples.
  EXPECT_FALSE(dominantFrequency(std::vector<float>(48000, 0.0f), kRate).has_value());
  EXPECT_FALSE(dominantFrequency(sine(1000, 0.5, 32), kRate).has_value());
}

TEST_F(AudioAnalysisTest, ToneAmplitudeIsTheSinesPeak) {
  // 48000 samples hold whole periods of 1 kHz: exact.
  EXPECT_NEAR(toneAmplitude(sine(1000, 0.25, 48000), 1000, kRate), 0.25, 1e-4);
  // Another channel's tone barely shows (Hann sidelobes far below -60 dB at 370 Hz away).
  EXPECT_LT(toneAmplitude(sine(1370, 0.25, 48000), 1000, kRate), 0.25e-3);
}

TEST_F(AudioAnalysisTest, ThresholdCrossingsAndSilence) {
  // 1000 samples of -100 dBFS noise-like dither, a cosine tone from 1000 to 4000 (its first
  // sample is its peak), then silence; a click at 6000.
  std::vector<float> x(8000, 0.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 2 ? 1e-5f : -1e-5f);
  for (size_t i = 1000; i < 4000; ++i)
    x[i] = static_cast<float>(0.5 * std::cos(2 * std::numbers::pi * 1000 * (i - 1000.0) / kRate));
  x[6000] = 0.2f;
  EXPECT_EQ(firstSampleAbove(x, -40), 1000u);
  EXPECT_EQ(firstSampleAbove(x, -40, 1001), 1001u);
  EXPECT_EQ(firstSampleAbove(x, -40, 4000), 6000u);
  EXPECT_EQ(firstSampleAbove(x, -10), 1000u);  // 0.5 = -6 dBFS > -10; the click is -14
  EXPECT_FALSE(firstSampleAbove(x, -5).has_value());
  EXPECT_EQ(lastSampleAbove(x, -40), 6000u);
  EXPECT_EQ(lastSampleAbove(x, -40, 6000), 3999u);  // cos(2 pi 2999/48) = -0.99
  EXPECT_TRUE(isSilent(x, 0, 1000, -90));
  EXPECT_FALSE(isSilent(x, 0, 1000, -110));
  EXPECT_FALSE(isSilent(x, 0, 1001, -90));
  EXPECT_TRUE(isSilent(x, 4000, 6000, -90));
  EXPECT_FALSE(isSilent(x, 4000, 6001, -90));
  EXPECT_TRUE(isSilent(x, 7000, 100000, -90));  // clamped to the end
  EXPECT_TRUE(isSilent(x, 5, 5, -300));         // empty

  const std::vector<float> no_click(x.begin(), x.begin() + 5000);
  auto tone = findTone(no_click, kRate, -40);
  ASSERT_TRUE(tone.has_value());
  EXPECT_EQ(tone->start, 1000u);
  EXPECT_EQ(tone->end, 4000u);
  EXPECT_NEAR(tone->dominant_hz, 1000.0, 0.5);
  EXPECT_NEAR(tone->level_dbfs, sineDbfs(0.5), 0.05);
  EXPECT_FALSE(findTone(std::vector<float>(1000, 1e-5f), kRate, -40).has_value());
}

}  // namespace
}  // namespace funkhaus::test
