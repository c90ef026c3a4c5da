// OpusStreamEncoder: configuration checks, GameStream layouts and their DESCRIBE parameters, a
// tone per channel through libopus' decoder (frequency and level per channel), CBR sizes.
#include "funkhaus/audio/opus_stream_encoder.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <set>
#include <string>

#include "tone.h"

namespace funkhaus::audio {
namespace {

using test::Decoder;

TEST(OpusConfigTest, RejectsWhatGameStreamCannotCarry) {
  struct Case {
    OpusConfig config;
    const char* says;
  };
  const Case cases[] = {
      {{.channels = 4}, "2, 6 or 8"},
      {{.channels = 1}, "2, 6 or 8"},
      {{.frame_ms = 20}, "5 or 10 ms"},
      {{.frame_ms = 0}, "5 or 10 ms"},
      {{.bitrate_bps = 1000}, "outside"},
      {{.bitrate_bps = 600'000}, "outside"},
      {{.channels = 8, .bitrate_bps = 2'048'000, .frame_ms = 10, .high_quality = true},
       "2560-byte"},
  };
  for (const Case& c : cases) {
    auto valid = validate(c.config);
    ASSERT_FALSE(valid) << c.says;
    EXPECT_EQ(valid.error().code, ErrorCode::kBadConfig);
    EXPECT_NE(valid.error().message.find(c.says), std::string::npos) << valid.error().message;
    EXPECT_FALSE(OpusStreamEncoder::create(c.config));
  }
  // Sunshine's bitrates all fit (stereo HQ at Opus' 510 kb/s ceiling for one stream).
  const OpusConfig fine[] = {
      {.channels = 2, .bitrate_bps = 96'000, .frame_ms = 5},
      {.channels = 2, .bitrate_bps = 510'000, .frame_ms = 10, .high_quality = true},
      {.channels = 6, .bitrate_bps = 256'000, .frame_ms = 10},
      {.channels = 6, .bitrate_bps = 1'536'000, .frame_ms = 5, .high_quality = true},
      {.channels = 8, .bitrate_bps = 450'000, .frame_ms = 10},
      {.channels = 8, .bitrate_bps = 2'048'000, .frame_ms = 5, .high_quality = true},
  };
  for (const OpusConfig& config : fine) {
    auto valid = validate(config);
    EXPECT_TRUE(valid) << (valid ? "" : valid.error().message);
  }
}

// What moonlight-common-c does with a surround-params value (RtspConnection.c): digits for
// streams, coupled streams and the mapping; for normal quality the last entry moves to LFE.
OpusLayout parseLikeTheClient(const std::string& params, bool high_quality) {
  OpusLayout layout;
  layout.channels = params[0] - '0';
  layout.streams = params[1] - '0';
  layout.coupled_streams = params[2] - '0';
  for (int i = 0; i < layout.channels; ++i) layout.mapping[i] = params[3 + i] - '0';
  if (!high_quality && (layout.channels == 6 || layout.channels == 8)) {
    const OpusLayout original = layout;
    layout.mapping[3] = original.mapping[layout.channels - 1];
    for (int i = 4; i < layout.channels; ++i) layout.mapping[i] = original.mapping[i - 1];
  }
  return layout;
}

TEST(OpusLayoutTest, StereoIsOneCoupledStream) {
  for (bool hq : {false, true}) {
    auto layout = gameStreamLayout(2, hq);
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->streams, 1);
    EXPECT_EQ(layout->coupled_streams, 1);
    EXPECT_EQ(layout->mapping[0], 0);
    EXPECT_EQ(layout->mapping[1], 1);
    EXPECT_EQ(surroundParams(*layout, hq), "");
  }
}

TEST(OpusLayoutTest, SurroundParamsDecodeToTheSameLayoutOnTheClient) {
  EXPECT_EQ(surroundParams(*gameStreamLayout(6, false), false), "642014235");
  EXPECT_EQ(surroundParams(*gameStreamLayout(6, true), true), "660012345");
  EXPECT_EQ(surroundParams(*gameStreamLayout(8, false), false), "85301623457");
  EXPECT_EQ(surroundParams(*gameStreamLayout(8, true), true), "88001234567");
  for (int channels : {6, 8}) {
    for (bool hq : {false, true}) {
      const OpusLayout layout = *gameStreamLayout(channels, hq);
      const OpusLayout client = parseLikeTheClient(surroundParams(layout, hq), hq);
      EXPECT_EQ(client.channels, layout.channels);
      EXPECT_EQ(client.streams, layout.streams);
      EXPECT_EQ(client.coupled_streams, layout.coupled_streams);
      EXPECT_EQ(client.mapping, layout.mapping) << channels << " hq " << hq;
      // Every coded channel is used once.
      std::set<int> coded(layout.mapping.begin(), layout.mapping.begin() + channels);
      EXPECT_EQ(coded.size(), static_cast<size_t>(channels));
      EXPECT_EQ(layout.streams + layout.coupled_streams, channels);
    }
  }
}

TEST(OpusStreamEncoderTest, RejectsWrongFrameAndBufferSizes) {
  auto encoder = OpusStreamEncoder::create({});
  ASSERT_TRUE(encoder);
  std::vector<float> short_frame(239 * 2);
  std::vector<uint8_t> out(encoder->packetBytes());
  EXPECT_FALSE(encoder->encode(std::span<const float>(short_frame), out));
  std::vector<float> frame(240 * 2);
  std::vector<uint8_t> tiny(encoder->packetBytes() - 1);
  EXPECT_FALSE(encoder->encode(std::span<const float>(frame), tiny));
  EXPECT_TRUE(encoder->encode(std::span<const float>(frame), out));
}

struct RoundTrip {
  int channels;
  bool high_quality;
  int bitrate_bps;
  int frame_ms;
};

class OpusRoundTripTest : public ::testing::TestWithParam<RoundTrip> {};

// A tone per channel (channel 0: 1 kHz), 1 s of it, encoded and decoded: each channel comes back
// on its own channel at its own frequency and level; every packet has the same size.
TEST_P(OpusRoundTripTest, EachChannelKeepsItsToneAndLevel) {
  const RoundTrip p = GetParam();
  const OpusConfig config{.channels = p.channels,
                          .bitrate_bps = p.bitrate_bps,
                          .frame_ms = p.frame_ms,
                          .high_quality = p.high_quality};
  auto encoder = OpusStreamEncoder::create(config);
  ASSERT_TRUE(encoder) << encoder.error().message;
  Decoder decoder(encoder->layout());
  ASSERT_TRUE(decoder.ok());

  const auto tones = test::channelTones(p.channels);
  const double amplitude = 0.5;
  const size_t n = encoder->frameSamples();
  std::vector<uint8_t> packet(kMaxGameStreamPacketBytes);
  std::set<size_t> sizes;
  std::vector<float> decoded;
  for (uint64_t frame = 0; frame < 1000u / p.frame_ms; ++frame) {
    const auto pcm = test::sines(tones, amplitude, n, frame * n);
    auto bytes = encoder->encode(std::span<const float>(pcm), packet);
    ASSERT_TRUE(bytes) << bytes.error().message;
    sizes.insert(*bytes);
    ASSERT_EQ(decoder.decode(std::span<const uint8_t>(packet.data(), *bytes), decoded),
              static_cast<int>(n));
  }
  // Skip the first 100 ms (the encoder settling), analyse the rest.
  const std::span<const float> steady(decoded.begin() + kSampleRate / 10 * p.channels,
                                      decoded.end());
  for (int c = 0; c < p.channels; ++c) {
    const auto x = test::channelOf(steady, p.channels, c);
    const test::ToneCheck check = test::checkTone(x, c, p.channels);
    EXPECT_GT(check.own_power_db - check.other_power_db, 30) << "channel " << c;
    EXPECT_NEAR(check.zero_crossing_hz, tones[c], tones[c] * 0.005) << "channel " << c;
    EXPECT_NEAR(check.level_dbfs, test::sineDbfs(amplitude), 1.0) << "channel " << c;
  }
  EXPECT_EQ(sizes.size(), 1u) << "CBR packets differ in size";
  std::printf("[figures] opus %dch%s %d b/s %d ms: packet %zu..%zu bytes (target %d)\n", p.channels,
              p.high_quality ? " hq" : "", p.bitrate_bps, p.frame_ms, *sizes.begin(),
              *sizes.rbegin(), encoder->packetBytes());
}

INSTANTIATE_TEST_SUITE_P(
    GameStream, OpusRoundTripTest,
    ::testing::Values(RoundTrip{2, false, 96'000, 5}, RoundTrip{2, true, 510'000, 10},
                      RoundTrip{6, false, 256'000, 5}, RoundTrip{6, true, 1'536'000, 5},
                      RoundTrip{8, false, 450'000, 10}, RoundTrip{8, true, 2'048'000, 5}),
    [](const ::testing::TestParamInfo<RoundTrip>& param_info) {
      return std::to_string(param_info.param.channels) + "ch" +
             (param_info.param.high_quality ? "Hq" : "") +
             std::to_string(param_info.param.frame_ms) + "ms";
    });

// GameStream's audio FEC needs equal payloads: every packet of a CBR stream, whatever the input
// (silence, a tone, full-scale noise, int16 or float), has the same size.
TEST(OpusStreamEncoderTest, CbrPacketsHaveOneSizeWhateverTheInput) {
  for (const RoundTrip& p : {RoundTrip{2, false, 96'000, 5}, RoundTrip{6, false, 256'000, 10},
                             RoundTrip{8, false, 450'000, 5}, RoundTrip{8, true, 2'048'000, 5}}) {
    auto encoder = OpusStreamEncoder::create({.channels = p.channels,
                                              .bitrate_bps = p.bitrate_bps,
                                              .frame_ms = p.frame_ms,
                                              .high_quality = p.high_quality});
    ASSERT_TRUE(encoder);
    const size_t values = static_cast<size_t>(encoder->frameSamples()) * p.channels;
    std::mt19937 random(7);
    std::uniform_real_distribution<float> noise(-1, 1);
    std::vector<uint8_t> packet(kMaxGameStreamPacketBytes);
    std::set<size_t> sizes;
    for (int frame = 0; frame < 300; ++frame) {
      const int kind = (frame / 50) % 3;  // silence, tone, noise in turns
      std::vector<float> pcm(values, 0.0f);
      if (kind == 1) {
        pcm = test::sines(test::channelTones(p.channels), 0.5, encoder->frameSamples(),
                          static_cast<uint64_t>(frame) * encoder->frameSamples());
      } else if (kind == 2) {
        for (float& v : pcm) v = noise(random);
      }
      if (frame % 2 == 0) {
        auto bytes = encoder->encode(std::span<const float>(pcm), packet);
        ASSERT_TRUE(bytes);
        sizes.insert(*bytes);
      } else {
        std::vector<int16_t> pcm16(values);
        for (size_t i = 0; i < values; ++i) pcm16[i] = static_cast<int16_t>(pcm[i] * 32767);
        auto bytes = encoder->encode(std::span<const int16_t>(pcm16), packet);
        ASSERT_TRUE(bytes);
        sizes.insert(*bytes);
      }
    }
    EXPECT_EQ(sizes.size(), 1u) << p.channels << " channels: sizes " << *sizes.begin() << ".."
                                << *sizes.rbegin();
    std::printf(
        "[figures] opus CBR %dch%s %d b/s %d ms over silence/tone/noise: %zu distinct "
        "size(s), %zu..%zu bytes (target %d)\n",
        p.channels, p.high_quality ? " hq" : "", p.bitrate_bps, p.frame_ms, sizes.size(),
        *sizes.begin(), *sizes.rbegin(), encoder->packetBytes());
  }
}

TEST(OpusStreamEncoderTest, Int16InputKeepsTheTone) {
  auto encoder = OpusStreamEncoder::create({});
  ASSERT_TRUE(encoder);
  Decoder decoder(encoder->layout());
  std::vector<uint8_t> packet(kMaxGameStreamPacketBytes);
  std::vector<float> decoded;
  for (uint64_t frame = 0; frame < 200; ++frame) {
    const auto pcm = test::sines(test::channelTones(2), 0.25, 240, frame * 240);
    std::vector<int16_t> pcm16(pcm.size());
    for (size_t i = 0; i < pcm.size(); ++i) pcm16[i] = static_cast<int16_t>(pcm[i] * 32767);
    auto bytes = encoder->encode(std::span<const int16_t>(pcm16), packet);
    ASSERT_TRUE(bytes);
    decoder.decode(std::span<const uint8_t>(packet.data(), *bytes), decoded);
  }
  const std::span<const float> steady(decoded.begin() + 4800 * 2, decoded.end());
  for (int c = 0; c < 2; ++c) {
    const auto check = test::checkTone(test::channelOf(steady, 2, c), c, 2);
    EXPECT_NEAR(check.level_dbfs, test::sineDbfs(0.25), 1.0);
    EXPECT_GT(check.own_power_db - check.other_power_db, 30);
  }
}

}  // namespace
}  // namespace funkhaus::audio
