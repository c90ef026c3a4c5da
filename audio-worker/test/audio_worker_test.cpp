// The audio worker's pure parts: its command line (defaults, bad values, the default state
// file), the nearest supported settings for a request, and the state file's round trip.
#include "funkhaus/audio/audio_worker.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace funkhaus::audio {
namespace {

Result<AudioOptions> parse(std::vector<std::string> args,
                           std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "funkhaus-audio");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parseAudioOptions(static_cast<int>(argv.size()), argv.data(), nullptr,
                           [&env](const char* name) -> const char* {
                             auto it = env.find(name);
                             return it == env.end() ? nullptr : it->second.c_str();
                           });
}

TEST(AudioOptions, Defaults) {
  auto options = parse({}, {{"XDG_RUNTIME_DIR", "/run/user/1000"}});
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->channels, 2);
  EXPECT_FALSE(options->bitrate_bps);
  EXPECT_EQ(options->frame_ms, 5);
  EXPECT_EQ(options->state_file, "/run/user/1000/funkhaus/audio-default-sink");
  EXPECT_TRUE(options->state_file_defaulted);
  EXPECT_EQ(encoderConfig(*options, 2, 5).bitrate_bps, 96'000);
  EXPECT_EQ(options->source, AudioSource::kPulse);
}

TEST(AudioOptions, SyncSource) {
  auto sync = parse({"--source", "sync"});
  ASSERT_TRUE(sync) << sync.error().message;
  EXPECT_EQ(sync->source, AudioSource::kSync);
  EXPECT_EQ(sync->sync_click_ms, 1000u);
  auto period = parse({"--source", "sync", "--sync-click-ms", "500"});
  ASSERT_TRUE(period) << period.error().message;
  EXPECT_EQ(period->sync_click_ms, 500u);
  auto without = parse({"--sync-click-ms", "500"});
  ASSERT_FALSE(without);
  EXPECT_NE(without.error().message.find("--source sync"), std::string::npos)
      << without.error().message;
}

TEST(AudioOptions, NoRuntimeDirMeansNoStateFile) {
  auto options = parse({});
  ASSERT_TRUE(options);
  EXPECT_EQ(options->state_file, "");
  auto given = parse({"--state-file", "/tmp/x"});
  ASSERT_TRUE(given);
  EXPECT_EQ(given->state_file, "/tmp/x");
  EXPECT_FALSE(given->state_file_defaulted);
}

TEST(AudioOptions, GoodValues) {
  auto options = parse({"--channels", "8", "--bitrate", "500000", "--frame-ms", "10"});
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->channels, 8);
  EXPECT_EQ(*options->bitrate_bps, 500'000);
  EXPECT_EQ(options->frame_ms, 10);
  EXPECT_EQ(encoderConfig(*options, 8, 10).bitrate_bps, 500'000);
  // A --bitrate that does not suit a requested layout (1.5 Mb/s is more than one stereo Opus
  // stream codes) gives way to that layout's default.
  AudioOptions big = *options;
  big.bitrate_bps = 1'500'000;
  EXPECT_EQ(encoderConfig(big, 2, 5).bitrate_bps, 96'000);
}

TEST(AudioOptions, BadValuesAreRefusedWithAReason) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--channels", "4"},
                                             {"--channels", "two"},
                                             {"--frame-ms", "20"},
                                             {"--bitrate", "1000"},
                                             {"--bitrate", "fast"},
                                             {"--bitrate", "9000000"},
                                             {"--source", "jack"},
                                             {"--sync-click-ms", "5"},
                                             {"--unknown"}}) {
    auto options = parse(args);
    ASSERT_FALSE(options) << args[0];
    EXPECT_EQ(options.error().code, ErrorCode::kBadConfig);
    EXPECT_NE(options.error().message.find(args[0]), std::string::npos) << options.error().message;
  }
}

TEST(AudioOptions, NearestSupported) {
  EXPECT_EQ(nearestChannels(1), 2);
  EXPECT_EQ(nearestChannels(2), 2);
  EXPECT_EQ(nearestChannels(3), 2);
  EXPECT_EQ(nearestChannels(4), 6);
  EXPECT_EQ(nearestChannels(5), 6);
  EXPECT_EQ(nearestChannels(6), 6);
  EXPECT_EQ(nearestChannels(7), 8);
  EXPECT_EQ(nearestChannels(8), 8);
  EXPECT_EQ(nearestChannels(200), 8);
  EXPECT_EQ(nearestFrameMs(1), 5);
  EXPECT_EQ(nearestFrameMs(5), 5);
  EXPECT_EQ(nearestFrameMs(7), 5);
  EXPECT_EQ(nearestFrameMs(8), 10);
  EXPECT_EQ(nearestFrameMs(10), 10);
  EXPECT_EQ(nearestFrameMs(20), 10);
}

class StateFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/funkhaus-audio-state-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StateFile, RoundTripsAndIsReplacedWhole) {
  const std::string path = dir_ + "/funkhaus/audio-default-sink";  // the directory is made
  auto missing = loadDefaultSinkRecord(path);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->switched, 0u);
  DefaultSinkRecord record;
  record.switched = 1;
  ASSERT_TRUE(record.setPreviousName("alsa_output.pci-0000_00_1f.3.analog-stereo"));
  ASSERT_TRUE(saveDefaultSinkRecord(path, record));
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/funkhaus").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto loaded = loadDefaultSinkRecord(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->switched, 1u);
  EXPECT_EQ(loaded->previousName(), "alsa_output.pci-0000_00_1f.3.analog-stereo");
  ASSERT_TRUE(saveDefaultSinkRecord(path, DefaultSinkRecord{}));
  EXPECT_EQ(loadDefaultSinkRecord(path)->switched, 0u);
  // No temp file left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_ + "/funkhaus"))
    ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(StateFile, ForeignBytesAreRefusedOrBounded) {
  const std::string path = dir_ + "/record";
  std::ofstream(path) << "not a record";
  EXPECT_FALSE(loadDefaultSinkRecord(path));
  std::string junk(sizeof(DefaultSinkRecord), 'x');  // no NUL anywhere, switched = "xxxx"
  std::ofstream(path, std::ios::binary | std::ios::trunc) << junk;
  auto loaded = loadDefaultSinkRecord(path);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->switched, 1u);
  EXPECT_EQ(loaded->previousName().size(), DefaultSinkRecord::kNameBytes - 1);
}

}  // namespace
}  // namespace funkhaus::audio
