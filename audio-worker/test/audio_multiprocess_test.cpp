// The real funkhaus-audio, started the way funkhausd starts it (channel at fd 3, the audio ring
// as kRingOut/kAudioPackets, PULSE_SERVER in its environment), against a private pulseaudio:
// a tone played into the session comes out of the ring as Opus, kSetAudio switches the default
// sink and back, a successor undoes a killed worker's switch, and a lost server is waited out.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <numbers>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "funkhaus/abi/codec.h"
#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/audio/audio_worker.h"
#include "funkhaus/audio/opus_stream_encoder.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/test/fake_supervisor.h"
#include "pulse_server.h"
#include "tone.h"

namespace funkhaus::audio {
namespace {

using funkhaus::test::FakeSupervisor;
using namespace std::chrono_literals;

// Polls `done` for up to `timeout`.
template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = 5s) {
  const uint64_t end = monotonicNs() + static_cast<uint64_t>(timeout.count()) * 1'000'000;
  while (monotonicNs() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

bool exitedWith(const std::optional<platform::ExitStatus>& status, int code) {
  return status && !status->signaled && status->code == code;
}

uint32_t stateOf(const FakeSupervisor& worker) { return abi::atomicLoad(worker.status().state); }
constexpr uint32_t kRunning = static_cast<uint32_t>(abi::WorkerState::kRunning);
constexpr uint32_t kReady = static_cast<uint32_t>(abi::WorkerState::kReady);

// One record read from the ring, with the time the test read it.
struct Packet {
  abi::PacketRecordHeader header{};
  std::vector<uint8_t> payload;
  uint64_t read_ns = 0;
};

class AudioWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = audio::test::PulseServer::start(&why);
    if (!server_) GTEST_SKIP() << "no private pulseaudio could be started: " << why;
    state_file_ = server_->dir() + "/state/audio-default-sink";
    PacketRingConfig config;
    config.name = "funkhaus-audio-test";
    config.capacity = 2u << 20;
    config.max_record_size = 64u << 10;
    auto ring = createPacketRing(config);
    ASSERT_TRUE(ring) << ring.error().message;
    ring_.emplace(std::move(*ring));
    auto shm = SharedMemory::attachDup(ring_->handle());
    ASSERT_TRUE(shm);
    auto consumer = PacketConsumer::attach(std::move(*shm));
    ASSERT_TRUE(consumer) << consumer.error().message;
    consumer_.emplace(std::move(*consumer));
  }

  // Starts funkhaus-audio against our server and waits for ready.
  std::unique_ptr<FakeSupervisor> startAudio(std::vector<std::string> args = {}) {
    args.push_back("--state-file");
    args.push_back(state_file_);
    auto worker = FakeSupervisor::start({FUNKHAUS_AUDIO_BIN,
                                         args,
                                         abi::WorkerKind::kAudio,
                                         {"PULSE_SERVER=" + server_->address()}});
    if (!worker) {
      ADD_FAILURE() << worker.error().message;
      return nullptr;
    }
    auto w = std::make_unique<FakeSupervisor>(std::move(*worker));
    auto connected =
        w->connect({{abi::FdRole::kRingOut, static_cast<uint32_t>(abi::RingId::kAudioPackets),
                     ring_->handle()}});
    if (!connected) {
      ADD_FAILURE() << connected.error().message << "\n" << w->log();
      return nullptr;
    }
    return w;
  }

  // A sink standing for the user's speakers, made the default.
  void addSpeakers() {
    ASSERT_TRUE(server_->pactl({"load-module", "module-null-sink", "sink_name=speakers"}));
    ASSERT_TRUE(server_->pactl({"set-default-sink", "speakers"}));
  }
  std::string defaultSink() { return server_->pactl({"get-default-sink"}).value_or("?"); }

  DefaultSinkRecord stateFile() {
    auto record = loadDefaultSinkRecord(state_file_);
    EXPECT_TRUE(record) << record.error().message;
    return record ? *record : DefaultSinkRecord{};
  }

  // Reads every record that is there now.
  void readRing(std::vector<Packet>& into) {
    for (;;) {
      auto record = consumer_->peek();
      ASSERT_TRUE(record) << record.error().message;
      if (!record->has_value()) return;
      Packet p;
      p.header = (*record)->header;
      const auto* bytes = reinterpret_cast<const uint8_t*>((*record)->payload.data());
      p.payload.assign(bytes, bytes + (*record)->payload.size());
      p.read_ns = monotonicNs();
      consumer_->pop();
      into.push_back(std::move(p));
    }
  }
  // Reads records for `duration`.
  std::vector<Packet> readFor(std::chrono::milliseconds duration) {
    std::vector<Packet> packets;
    const uint64_t end = monotonicNs() + static_cast<uint64_t>(duration.count()) * 1'000'000;
    while (monotonicNs() < end) {
      consumer_->wait(10'000'000);
      readRing(packets);
    }
    return packets;
  }
  void discardRing() {
    std::vector<Packet> ignored;
    readRing(ignored);
  }

  std::unique_ptr<audio::test::PulseServer> server_;
  std::string state_file_;
  std::optional<SharedMemory> ring_;
  std::optional<PacketConsumer> consumer_;
};

// Raw stereo float32 at 48 kHz: `lead_ms` of silence, `tone_ms` of a 1 kHz sine of `amplitude`
// on both channels, 100 ms of silence.
std::string writeTone(const std::string& path, double amplitude, int lead_ms, int tone_ms) {
  std::vector<float> pcm;
  const size_t lead = static_cast<size_t>(lead_ms) * 48, tone = static_cast<size_t>(tone_ms) * 48;
  pcm.resize((lead + tone + 4800) * 2, 0.0f);
  for (size_t i = 0; i < tone; ++i) {
    const float v = static_cast<float>(
        amplitude * std::sin(2 * std::numbers::pi * 1000.0 * static_cast<double>(i) / kSampleRate));
    pcm[(lead + i) * 2] = v;
    pcm[(lead + i) * 2 + 1] = v;
  }
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(pcm.data()),
             static_cast<std::streamsize>(pcm.size() * sizeof(float)));
  return path;
}

// The strongest frequency on a 10 Hz grid from 100 Hz to 6 kHz (Goertzel).
double dominantFrequency(std::span<const float> x) {
  double best = 0, best_power = -1;
  for (double f = 100; f <= 6000; f += 10) {
    const double power = audio::test::goertzel(x, f);
    if (power > best_power) {
      best_power = power;
      best = f;
    }
  }
  return best;
}

// (1) A 1 kHz tone played into the session while somebody listens comes out of the ring as
// Opus packets in the asked layout; decoded, it has the tone's frequency and level, and the
// capture timestamps rise 5 ms a packet.
TEST_F(AudioWorker, AToneInTheSessionComesOutOfTheRingAsOpus) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "under TSan: libpulse is not instrumented, and paplay and the worker's "
                  "recording share the server's memory ring buffers, which TSan cannot see";
#endif
  addSpeakers();
  auto worker = startAudio();
  ASSERT_TRUE(worker);
  ASSERT_TRUE(eventually([&] { return stateOf(*worker) == kRunning; })) << worker->log();
  ASSERT_TRUE(worker->send(abi::Command::kSetAudio, abi::audioRequest(2, 5)));
  ASSERT_TRUE(eventually([&] { return defaultSink() == "funkhaus"; })) << worker->log();

  const double amplitude = 0.5;
  const std::string tone = writeTone(server_->dir() + "/tone.raw", amplitude, 300, 1000);
  std::atomic<bool> played{false};
  std::atomic<uint64_t> play_start_ns{0};
  std::thread player([&] {
    play_start_ns = monotonicNs();
    played = server_
                 ->run("paplay", {"--raw", "--format=float32le", "--rate=48000", "--channels=2",
                                  "--latency-msec=10", tone})
                 .has_value();
  });
  std::vector<Packet> packets;
  const uint64_t end = monotonicNs() + 4'000'000'000;
  while (monotonicNs() < end) {
    consumer_->wait(10'000'000);
    readRing(packets);
  }
  player.join();
  ASSERT_TRUE(played) << "paplay failed";
  ASSERT_GT(packets.size(), 400u) << worker->log();

  // Every record: Opus, stereo, 240 samples; numbers and capture times rising.
  OpusLayout layout = *gameStreamLayout(2, false);
  audio::test::Decoder decoder(layout);
  ASSERT_TRUE(decoder.ok());
  std::vector<float> decoded;
  std::vector<uint64_t> capture_of_sample;  // capture time of each decoded sample's packet
  std::vector<double> gaps_ms;
  uint64_t discontinuities = 0;
  for (size_t i = 0; i < packets.size(); ++i) {
    const auto& h = packets[i].header;
    ASSERT_EQ(h.codec, static_cast<uint32_t>(abi::Codec::kOpus));
    ASSERT_EQ(abi::opusFormatChannels(h.format), 2u);
    ASSERT_EQ(abi::opusFormatSamples(h.format), 240u);
    EXPECT_EQ(packets[i].payload.size(), 96'000u * 5 / 8000);  // CBR
    if (i > 0) {
      EXPECT_GT(h.frame_number, packets[i - 1].header.frame_number);
      ASSERT_GT(h.capture_time_ns, packets[i - 1].header.capture_time_ns);
      if ((h.flags & abi::kRecordFlagDiscontinuity) == 0)
        gaps_ms.push_back(
            static_cast<double>(h.capture_time_ns - packets[i - 1].header.capture_time_ns) / 1e6);
    }
    if (h.flags & abi::kRecordFlagDiscontinuity) ++discontinuities;
    ASSERT_EQ(decoder.decode(packets[i].payload, decoded), 240);
  }
  std::vector<double> sorted = gaps_ms;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_FALSE(sorted.empty());
  const double gap_p50 = sorted[sorted.size() / 2];
  const double gap_p01 = sorted[sorted.size() / 100], gap_p99 = sorted[sorted.size() * 99 / 100];
  EXPECT_NEAR(gap_p50, 5.0, 0.1);
  EXPECT_GT(gap_p01, 3.0);
  EXPECT_LT(gap_p99, 7.0);

  // The tone: its onset, then 500 ms from 200 ms after it (well inside the 1 s tone).
  const auto left = audio::test::channelOf(decoded, 2, 0);
  size_t onset = 0;
  while (onset < left.size() && std::abs(left[onset]) < amplitude / 4) ++onset;
  ASSERT_LT(onset + 33'600, left.size()) << "the tone never arrived whole";
  const double source_dbfs = audio::test::sineDbfs(amplitude);
  double level_diff_db[2] = {0, 0};
  for (int c = 0; c < 2; ++c) {
    const auto x = audio::test::channelOf(decoded, 2, c);
    const std::span<const float> steady(x.data() + onset + 9'600, 24'000);
    EXPECT_NEAR(dominantFrequency(steady), 1000.0, 10.0) << "channel " << c;
    const audio::test::ToneCheck check = audio::test::checkToneMedian(steady, 0, 2);
    EXPECT_NEAR(check.zero_crossing_hz, 1000.0, 10.0) << "channel " << c;
    level_diff_db[c] = check.level_dbfs - source_dbfs;
    EXPECT_NEAR(check.level_dbfs, source_dbfs, 1.0) << "channel " << c;
  }
  // When the tone's first sample was captured and when the test read the packet with it.
  const size_t onset_packet = onset / 240;
  const uint64_t onset_capture_ns =
      packets[onset_packet].header.capture_time_ns + (onset % 240) * 1'000'000'000ull / kSampleRate;
  const double tone_due_ns = static_cast<double>(play_start_ns) + 300e6;  // after the lead

  const auto& s = worker->status();
  EXPECT_TRUE(eventually([&] { return abi::atomicLoad(s.latency_p99_ns) != 0; }));
  EXPECT_GE(abi::atomicLoad(s.frames_out), packets.size());
  std::printf(
      "[figures] audio worker tone: %zu packets, level %+.2f / %+.2f dB vs the source, capture "
      "gaps p1/p50/p99 %.2f/%.2f/%.2f ms, discontinuities %llu; paplay start + 300 ms lead -> "
      "onset capture time %.1f ms, onset capture -> read from the ring %.1f ms; status page "
      "capture -> ring p50 %.2f ms p99 %.2f ms, drops %llu, errors %llu\n",
      packets.size(), level_diff_db[0], level_diff_db[1], gap_p01, gap_p50, gap_p99,
      static_cast<unsigned long long>(discontinuities),
      (static_cast<double>(onset_capture_ns) - tone_due_ns) / 1e6,
      static_cast<double>(packets[onset_packet].read_ns - onset_capture_ns) / 1e6,
      static_cast<double>(abi::atomicLoad(s.latency_p50_ns)) / 1e6,
      static_cast<double>(abi::atomicLoad(s.latency_p99_ns)) / 1e6,
      static_cast<unsigned long long>(abi::atomicLoad(s.drops)),
      static_cast<unsigned long long>(abi::atomicLoad(s.errors)));

  ASSERT_TRUE(worker->send(abi::Command::kSetAudio, 0));
  EXPECT_TRUE(eventually([&] { return defaultSink() == "speakers"; })) << worker->log();
  EXPECT_TRUE(exitedWith(worker->stop(), abi::kExitStopped)) << worker->log();
}

// (2) kSetAudio makes our sink the default (the previous one kept in the state file), a request
// for other channels and packets re-creates sink and encoder, 0 puts the previous default back.
// Nothing goes into the ring while nobody listens.
TEST_F(AudioWorker, SetAudioSwitchesTheDefaultSinkAndBack) {
  addSpeakers();
  auto worker = startAudio();
  ASSERT_TRUE(worker);
  ASSERT_TRUE(eventually([&] { return stateOf(*worker) == kRunning; })) << worker->log();
  EXPECT_EQ(defaultSink(), "speakers");
  EXPECT_TRUE(readFor(300ms).empty()) << "packets while nobody listens";

  ASSERT_TRUE(worker->send(abi::Command::kSetAudio, abi::audioRequest(2, 5)));
  EXPECT_TRUE(eventually([&] { return defaultSink() == "funkhaus"; })) << worker->log();
  // The file is written right after the switch.
  EXPECT_TRUE(eventually([&] { return stateFile().switched == 1; }));
  DefaultSinkRecord record = stateFile();
  EXPECT_EQ(record.previousName(), "speakers");
  auto packets = readFor(300ms);
  ASSERT_FALSE(packets.empty()) << worker->log();
  EXPECT_EQ(abi::opusFormatChannels(packets.back().header.format), 2u);
  EXPECT_TRUE(packets.front().header.flags & abi::kRecordFlagDiscontinuity);

  // 5.1 at 20 ms: the nearest supported is 10 ms (480 samples); the sink is made with 6.
  ASSERT_TRUE(worker->send(abi::Command::kSetAudio, abi::audioRequest(6, 20)));
  std::vector<Packet> surround;
  EXPECT_TRUE(eventually([&] {
    readRing(surround);
    return !surround.empty() && abi::opusFormatChannels(surround.back().header.format) == 6;
  })) << worker->log();
  EXPECT_EQ(abi::opusFormatSamples(surround.back().header.format), 480u);
  EXPECT_EQ(surround.back().payload.size(), 256'000u * 10 / 8000);
  const std::string sinks = server_->pactl({"list", "short", "sinks"}).value_or("");
  EXPECT_NE(sinks.find("funkhaus\tmodule-null-sink.c\tfloat32le 6ch 48000Hz"), std::string::npos)
      << sinks;
  EXPECT_EQ(defaultSink(), "funkhaus");
  EXPECT_EQ(stateFile().previousName(), "speakers");

  ASSERT_TRUE(worker->send(abi::Command::kSetAudio, 0));
  EXPECT_TRUE(eventually([&] { return defaultSink() == "speakers"; })) << worker->log();
  EXPECT_TRUE(eventually([&] { return stateFile().switched == 0; }));
  std::this_thread::sleep_for(50ms);
  discardRing();
  EXPECT_TRUE(readFor(300ms).empty()) << "packets after nobody listens any more";
  EXPECT_EQ(abi::atomicLoad(worker->status().errors), 0u) << worker->log();
  EXPECT_TRUE(exitedWith(worker->stop(), abi::kExitStopped)) << worker->log();
  EXPECT_NE(worker->log().find("nobody listens: default sink restore: restored"), std::string::npos)
      << worker->log();
}

// (3) A worker killed while our sink is the default: its successor, started with the same state
// file, puts the user's default back. A clean stop while switched restores as well.
TEST_F(AudioWorker, ASuccessorRestoresTheDefaultAKilledWorkerSwitched) {
  addSpeakers();
  auto first = startAudio();
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->send(abi::Command::kSetAudio, abi::audioRequest(0, 5)));
  ASSERT_TRUE(eventually([&] { return defaultSink() == "funkhaus"; })) << first->log();
  ASSERT_TRUE(eventually([&] { return stateFile().switched == 1; }));
  const pid_t pid = first->pid();
  first->kill9();
  first.reset();
  ASSERT_TRUE(releasePacketRingPeer(*ring_, static_cast<uint32_t>(pid)));  // funkhausd's part
  EXPECT_EQ(defaultSink(), "funkhaus");  // until the successor comes

  auto second = startAudio();
  ASSERT_TRUE(second);
  EXPECT_TRUE(eventually([&] { return defaultSink() == "speakers"; })) << second->log();
  EXPECT_TRUE(eventually([&] { return stateFile().switched == 0; }));
  EXPECT_NE(second->log().find("a predecessor's switch: default sink restore: restored"),
            std::string::npos)
      << second->log();

  // Streaming again, then stopped: the default comes back.
  ASSERT_TRUE(second->send(abi::Command::kSetAudio, abi::audioRequest(2, 5)));
  ASSERT_TRUE(eventually([&] { return defaultSink() == "funkhaus"; })) << second->log();
  EXPECT_TRUE(exitedWith(second->stop(), abi::kExitStopped)) << second->log();
  EXPECT_EQ(defaultSink(), "speakers");
  EXPECT_EQ(stateFile().switched, 0u);
}

// (4) The sound server killed mid-run: the worker stays alive with its heartbeat, shows kReady
// and counts errors, and once a new server is on the same address it records again and packets
// resume (the first one flagged).
TEST_F(AudioWorker, ALostSoundServerIsWaitedOutAndPacketsResume) {
  auto worker = startAudio();
  ASSERT_TRUE(worker);
  ASSERT_TRUE(worker->send(abi::Command::kSetAudio, abi::audioRequest(2, 5)));
  ASSERT_FALSE(readFor(300ms).empty()) << worker->log();

  const uint64_t killed = monotonicNs();
  server_->kill();
  ASSERT_TRUE(eventually([&] { return stateOf(*worker) == kReady; })) << worker->log();
  const double reported_ms = static_cast<double>(monotonicNs() - killed) / 1e6;
  const uint64_t errors = abi::atomicLoad(worker->status().errors);
  EXPECT_GE(errors, 1u);
  const uint64_t heartbeat = abi::atomicLoad(worker->status().heartbeat);
  discardRing();
  EXPECT_TRUE(readFor(2s).empty());  // gone for 2 s: attempts at 250, 500, 1000 ms fail
  EXPECT_FALSE(worker->process().poll()) << "the worker exited without its server";
  EXPECT_GT(abi::atomicLoad(worker->status().heartbeat), heartbeat + 10);
  EXPECT_GT(abi::atomicLoad(worker->status().errors), errors);
  EXPECT_EQ(stateOf(*worker), kReady);

  std::string why;
  ASSERT_TRUE(server_->launch(&why)) << why;
  const uint64_t relaunched = monotonicNs();
  std::vector<Packet> packets;
  ASSERT_TRUE(eventually(
      [&] {
        readRing(packets);
        return !packets.empty();
      },
      15s))
      << worker->log();
  const double resumed_ms = static_cast<double>(monotonicNs() - relaunched) / 1e6;
  EXPECT_TRUE(packets.front().header.flags & abi::kRecordFlagDiscontinuity);
  EXPECT_EQ(stateOf(*worker), kRunning);
  EXPECT_EQ(defaultSink(), "funkhaus");  // somebody still listens
  std::printf(
      "[figures] audio worker: server killed -> kReady after %.1f ms; new server -> "
      "packets again after %.1f ms; errors %llu\n",
      reported_ms, resumed_ms,
      static_cast<unsigned long long>(abi::atomicLoad(worker->status().errors)));
  EXPECT_TRUE(exitedWith(worker->stop(), abi::kExitStopped)) << worker->log();
}

// No sound server at start: the worker is ready all the same, waits, and starts when one comes.
TEST_F(AudioWorker, NoSoundServerAtStartIsWaitedFor) {
  server_->kill();
  auto worker = startAudio();
  ASSERT_TRUE(worker);
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(worker->process().poll());
  EXPECT_EQ(stateOf(*worker), kReady);
  EXPECT_GE(abi::atomicLoad(worker->status().errors), 2u);
  std::string why;
  ASSERT_TRUE(server_->launch(&why)) << why;
  EXPECT_TRUE(eventually([&] { return stateOf(*worker) == kRunning; }, 15s)) << worker->log();
  EXPECT_TRUE(exitedWith(worker->stop(), abi::kExitStopped)) << worker->log();
}

}  // namespace
}  // namespace funkhaus::audio
