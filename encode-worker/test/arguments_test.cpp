// Command-line tests of funkhaus-encode: defaults, every option, and clear errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "funkhaus/encode/encode_worker.h"

namespace funkhaus::encode {
namespace {

Result<WorkerArguments> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "funkhaus-encode");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parseArguments(static_cast<int>(argv.size()), argv.data());
}

TEST(ArgumentsTest, Defaults) {
  auto a = parse({});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->config.encoder, "libx264");
  EXPECT_EQ(a->config.bitrate, 8'000'000u);
  EXPECT_EQ(a->config.fps, 60u);
  EXPECT_EQ(a->config.preset, "superfast");
  EXPECT_EQ(a->repeats.idle_fps, 2u);
  EXPECT_EQ(a->repeats.settle_ns, 1'000'000'000u);
  EXPECT_FALSE(a->help);
}

TEST(ArgumentsTest, EveryOption) {
  auto a = parse({"--encoder", "libx265", "--bitrate", "2500000", "--fps", "30", "--preset",
                  "veryfast", "--idle-fps", "10"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->config.encoder, "libx265");
  EXPECT_EQ(a->config.bitrate, 2'500'000u);
  EXPECT_EQ(a->config.fps, 30u);
  EXPECT_EQ(a->config.preset, "veryfast");
  EXPECT_EQ(a->repeats.idle_fps, 10u);
}

TEST(ArgumentsTest, IdleFpsZeroAndTheLimit) {
  auto a = parse({"--idle-fps", "0"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->repeats.idle_fps, 0u) << "the full frame rate";
  a = parse({"--idle-fps", "240"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->repeats.idle_fps, 240u);
}

TEST(ArgumentsTest, Help) {
  auto a = parse({"--help"});
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->help);
  EXPECT_NE(a->help_text.find("--encoder"), std::string::npos);
  EXPECT_NE(a->help_text.find("--idle-fps"), std::string::npos);
}

TEST(ArgumentsTest, BadValuesNameWhatIsWrong) {
  struct Case {
    std::vector<std::string> args;
    const char* needle;
  };
  const Case cases[] = {
      {{"--fps", "0"}, "fps"},
      {{"--fps", "1000"}, "fps"},
      {{"--fps", "sixty"}, "fps"},
      {{"--bitrate", "5"}, "bitrate"},
      {{"--bitrate", "-1"}, "bitrate"},
      {{"--encoder", "mpeg2video"}, "mpeg2video"},
      {{"--preset", "warp"}, "warp"},
      {{"--speed", "1"}, "speed"},
      {{"--fps"}, "fps"},
      {{"--idle-fps", "-1"}, "idle-fps"},
      {{"--idle-fps", "241"}, "idle-fps"},
      {{"--idle-fps", "few"}, "idle-fps"},
      {{"--idle-fps", "2.5"}, "idle-fps"},
      {{"--idle-fps"}, "idle-fps"},
  };
  for (const Case& c : cases) {
    auto a = parse(c.args);
    ASSERT_FALSE(a) << c.needle;
    EXPECT_NE(a.error().message.find(c.needle), std::string::npos) << a.error().message;
  }
}

}  // namespace
}  // namespace funkhaus::encode
