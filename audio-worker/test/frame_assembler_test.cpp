// FrameAssembler: exact frames from any chunk sizes, timestamps on the sample clock (smoothed,
// re-anchored on jumps), holes, overflow; and the pure parts of PulseSession (server address,
// the persisted default-sink record read as untrusted bytes).
#include "funkhaus/audio/frame_assembler.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "funkhaus/audio/pulse_session.h"

namespace funkhaus::audio {
namespace {

constexpr uint64_t kStart = 5'000'000'000;
constexpr double kNsPerSample = 1e9 / 48000;

// Interleaved stereo whose left sample is its index (a ramp), right its negation.
std::vector<float> ramp(uint64_t first, size_t count) {
  std::vector<float> out;
  for (size_t i = 0; i < count; ++i) {
    out.push_back(static_cast<float>(first + i));
    out.push_back(-static_cast<float>(first + i));
  }
  return out;
}

uint64_t at(uint64_t sample) { return kStart + static_cast<uint64_t>(sample * kNsPerSample); }

TEST(FrameAssemblerTest, CutsAnyChunksIntoExactFramesOnTheSampleClock) {
  FrameAssembler assembler(2, 240, 48000);
  uint64_t pushed = 0;
  uint64_t expected_first = 0;
  for (size_t chunk : {100u, 37u, 500u, 1u, 239u, 960u, 3u}) {
    const auto data = ramp(pushed, chunk);
    assembler.push(data.data(), chunk, at(pushed));
    pushed += chunk;
    while (const CapturedFrame* frame = assembler.next()) {
      ASSERT_EQ(frame->samples.size(), 480u);
      EXPECT_EQ(frame->samples[0], static_cast<float>(expected_first));
      EXPECT_EQ(frame->samples[479], -static_cast<float>(expected_first + 239));
      EXPECT_EQ(frame->sequence, expected_first / 240);
      EXPECT_NEAR(static_cast<double>(frame->capture_ns), static_cast<double>(at(expected_first)),
                  1);
      EXPECT_FALSE(frame->discontinuity);
      expected_first += 240;
    }
  }
  EXPECT_EQ(expected_first, pushed / 240 * 240);
  EXPECT_EQ(assembler.stats().reanchors, 0u);
}

TEST(FrameAssemblerTest, JitterIsSmoothedAndAJumpReanchors) {
  FrameAssembler assembler(2, 240, 48000);
  uint64_t pushed = 0;
  const int64_t jitter[] = {0, 900'000, -700'000, 400'000, -1'500'000, 1'200'000, 0, 300'000};
  for (int64_t j : jitter) {
    const auto data = ramp(pushed, 240);
    assembler.push(data.data(), 240, at(pushed) + j);
    pushed += 240;
  }
  uint64_t previous = 0;
  while (const CapturedFrame* frame = assembler.next()) {
    // Within a fraction of the jitter of the ideal clock, and always 5 ms +- 0.2 ms apart.
    EXPECT_NEAR(static_cast<double>(frame->capture_ns),
                static_cast<double>(at(frame->sequence * 240)), 250'000);
    if (previous != 0) {
      EXPECT_NEAR(static_cast<double>(frame->capture_ns - previous), 5e6, 2e5);
    }
    previous = frame->capture_ns;
  }
  EXPECT_EQ(assembler.stats().reanchors, 0u);

  // 50 ms later than the clock says: the source stalled or the clock moved; follow it.
  const auto data = ramp(pushed, 240);
  assembler.push(data.data(), 240, at(pushed) + 50'000'000);
  const CapturedFrame* frame = assembler.next();
  ASSERT_NE(frame, nullptr);
  EXPECT_EQ(frame->capture_ns, at(pushed) + 50'000'000);
  EXPECT_EQ(assembler.stats().reanchors, 1u);
}

TEST(FrameAssemblerTest, UnmeasuredChunksKeepTheClock) {
  FrameAssembler assembler(2, 240, 48000);
  auto data = ramp(0, 240);
  assembler.push(data.data(), 240, at(0));
  data = ramp(240, 240);
  assembler.push(data.data(), 240, at(240) + 30'000'000, /*measured=*/false);
  ASSERT_NE(assembler.next(), nullptr);
  const CapturedFrame* second = assembler.next();
  ASSERT_NE(second, nullptr);
  EXPECT_NEAR(static_cast<double>(second->capture_ns), static_cast<double>(at(240)), 1);
  EXPECT_EQ(assembler.stats().reanchors, 0u);
}

TEST(FrameAssemblerTest, HolesBecomeSilenceAndMarkTheNextFrame) {
  FrameAssembler assembler(2, 240, 48000);
  auto data = ramp(0, 240);
  assembler.push(data.data(), 240, at(0));
  assembler.pushHole(240, at(240));
  data = ramp(480, 240);
  assembler.push(data.data(), 240, at(480));
  const CapturedFrame* frame = assembler.next();
  ASSERT_NE(frame, nullptr);
  EXPECT_FALSE(frame->discontinuity);
  frame = assembler.next();
  ASSERT_NE(frame, nullptr);
  EXPECT_TRUE(frame->discontinuity);
  for (float v : frame->samples) EXPECT_EQ(v, 0.0f);
  frame = assembler.next();
  ASSERT_NE(frame, nullptr);
  EXPECT_FALSE(frame->discontinuity);
  EXPECT_EQ(frame->samples[0], 480.0f);
  EXPECT_EQ(assembler.stats().hole_samples, 240u);
}

TEST(FrameAssemblerTest, AFullQueueDropsTheOldestFrames) {
  FrameAssembler assembler(2, 240, 48000, /*max_queued=*/4);
  const auto data = ramp(0, 240 * 10);
  assembler.push(data.data(), 240 * 10, at(0));
  EXPECT_EQ(assembler.queuedFrames(), 4u);
  EXPECT_EQ(assembler.stats().dropped_frames, 6u);
  const CapturedFrame* frame = assembler.next();
  ASSERT_NE(frame, nullptr);
  EXPECT_TRUE(frame->discontinuity);
  EXPECT_EQ(frame->samples[0], 240.0f * 6);  // the newest four are kept
  EXPECT_NEAR(static_cast<double>(frame->capture_ns), static_cast<double>(at(240 * 6)), 1);
}

TEST(ServerAddressTest, PulseServerWinsThenTheRuntimeDir) {
  std::map<std::string, std::string> env;
  auto lookup = [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto none = defaultServerAddress(lookup);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kBadConfig);
  env["XDG_RUNTIME_DIR"] = "/run/user/1000";
  EXPECT_EQ(*defaultServerAddress(lookup), "unix:/run/user/1000/pulse/native");
  env["PULSE_SERVER"] = "unix:/tmp/other";
  EXPECT_EQ(*defaultServerAddress(lookup), "unix:/tmp/other");
  env["PULSE_SERVER"] = "";
  EXPECT_EQ(*defaultServerAddress(lookup), "unix:/run/user/1000/pulse/native");
}

TEST(DefaultSinkRecordTest, NamesStayInBoundsWhateverTheBytes) {
  DefaultSinkRecord record;
  EXPECT_TRUE(record.setPreviousName("alsa_output.pci-0000_00_1f.3.analog-stereo"));
  EXPECT_EQ(record.previousName(), "alsa_output.pci-0000_00_1f.3.analog-stereo");
  EXPECT_FALSE(record.setPreviousName(std::string(256, 'x')));
  EXPECT_TRUE(record.setPreviousName(std::string(255, 'x')));
  EXPECT_EQ(record.previousName().size(), 255u);
  // A record as a crashed predecessor might have left it: no NUL anywhere.
  std::memset(record.previous, 'y', sizeof(record.previous));
  EXPECT_EQ(record.previousName().size(), 255u);
}

TEST(PulseSessionTest, NoServerIsAClearErrorNotAHang) {
  auto session = PulseSession::connect(
      {.server = "unix:/nonexistent/funkhaus-test/native", .operation_timeout_ms = 2000});
  ASSERT_FALSE(session);
  EXPECT_FALSE(isPermanent(session.error().code));
  EXPECT_NE(session.error().message.find("/nonexistent/funkhaus-test/native"), std::string::npos)
      << session.error().message;
}

}  // namespace
}  // namespace funkhaus::audio
