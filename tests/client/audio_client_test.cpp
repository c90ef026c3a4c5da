// Audio end to end (label client). The tools the audio tests decode with, checked on a known
// signal first: ffmpeg (ffmpeg_recording.h) records a file's Opus audio and its video, and the
// tone analysis (funkhaus/test/audio_analysis.h) finds the tone, its frequency, its level and the
// silence around it. Then the host: funkhausd (user mode) with the virtual monitor, the session's
// own sound server (pulseaudio, started by funkhausd), funkhaus-audio and net; paplay plays into
// the session (PULSE_SERVER from `funkhausctl status --json`) while our GameStream client
// (tests/client/gamestream_probe, moonlight-common-c, paired through Moonlight Embedded) decodes
// the Opus stream into a WAV file, or ffmpeg records the RTSP stream's Opus track: a 3 s 1 kHz
// tone arrives at 1 kHz within 1 dB of the source with silence before and after; in 5.1 and 7.1
// each channel's own tone arrives on that channel. A/V sync with the sync pattern: the synthetic
// picture flashes and funkhaus-audio's sync source clicks at each whole second of CLOCK_MONOTONIC
// (no sound server), and the click - flash offset reaches the probe and ffmpeg. Latencies (paplay
// -> the packet that brought a tone's first sample to the probe), A/V offsets and the silence a
// kill -9 of audio or net costs are printed as [figures]; time is asserted only as "the tone
// comes back within 5 s".
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "../../supervisor/test/funkhausd_process.h"
#include "ffmpeg_recording.h"
#include "funkhaus/common/child_process.h"
#include "funkhaus/test/audio_analysis.h"
#include "funkhaus/test/fake_supervisor.h"
#include "funkhaus/test/moonlight.h"
#include "funkhaus/test/shell.h"
#include "gamestream_host.h"
#include "gamestream_ports.h"

namespace funkhaus {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
using test::Funkhausd;

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

// A 3 s 1 kHz tone of peak `amplitude` on both channels of `wav`, within 1 dB, with at least
// 0.5 s of silence before and after; printed as [figures] under `label`. Returns the earliest
// start (in samples), none when a channel had no tone.
std::optional<size_t> checkStereoTone(const test::PcmAudio& wav, double amplitude,
                                      const std::string& label) {
  const double source_dbfs = test::sineDbfs(amplitude);
  std::optional<size_t> first_start;
  for (int c = 0; c < 2; ++c) {
    const std::vector<float> x = wav.channel(c);
    auto tone = test::findTone(x, kRate, -40);
    EXPECT_TRUE(tone.has_value()) << label << " channel " << c << ": no tone in "
                                  << static_cast<double>(x.size()) / kRate << " s of audio";
    if (!tone) return std::nullopt;
    const double seconds = static_cast<double>(tone->end - tone->start) / kRate;
    EXPECT_NEAR(tone->dominant_hz, 1000.0, 2.0) << c;
    EXPECT_NEAR(tone->level_dbfs, source_dbfs, 1.0) << c;
    EXPECT_NEAR(seconds, 3.0, 0.1) << c;
    EXPECT_GT(tone->start, size_t{kRate / 2}) << "no silence before the tone, channel " << c;
    EXPECT_GT(x.size() - tone->end, size_t{kRate / 2}) << "no silence after the tone, " << c;
    EXPECT_TRUE(test::isSilent(x, 0, tone->start - kRate / 100, -60))
        << "channel " << c << " before: " << test::peakDbfs(std::span(x).first(tone->start));
    EXPECT_TRUE(test::isSilent(x, tone->end + kRate / 100, x.size(), -60))
        << "channel " << c << " after: " << test::peakDbfs(std::span(x).subspan(tone->end));
    std::printf(
        "[figures] %s tone, channel %d: %.3f s long, %.2f Hz, %.2f dBFS (source %.2f), "
        "silence %.2f s before and %.2f s after\n",
        label.c_str(), c, seconds, tone->dominant_hz, tone->level_dbfs, source_dbfs,
        static_cast<double>(tone->start) / kRate,
        static_cast<double>(x.size() - tone->end) / kRate);
    if (!first_start || tone->start < *first_start) first_start = tone->start;
  }
  return first_start;
}

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The virtual monitor's mode (small: the picture is not what these tests look at).
constexpr int kWidth = 640, kHeight = 480;

class AudioHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v Xvfb > /dev/null") != 0)
      GTEST_SKIP() << "Xvfb is needed for the virtual monitor: scripts/install-deps.sh installs it";
    if (std::system("command -v paplay > /dev/null && command -v pulseaudio > /dev/null") != 0)
      GTEST_SKIP() << "pulseaudio and paplay are needed: scripts/install-deps.sh installs them";
    auto moonlight = test::findMoonlight();
    if (!moonlight) GTEST_SKIP() << moonlight.error().message;
    moonlight_ = *moonlight;
    auto probe = test::buildGamestreamProbe();
    if (!probe) GTEST_SKIP() << probe.error().message;
    probe_ = *probe;
    base_port_ = test::freeGamestreamBasePort();
    ASSERT_NE(base_port_, 0) << "no free port set on loopback";
    dir_ = fs::temp_directory_path() / ("funkhaus-audio-host-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Funkhausd::state_home = dir_ / "state";
  }

  void TearDown() override {
    if (HasFailure()) {
      if (probe_run_) std::printf("probe output:\n%s\n", probe_run_->output().c_str());
      if (funkhausd_) std::printf("funkhausd log:\n%s\n", funkhausd_->log().c_str());
    }
    if (probe_run_ && probe_run_->running()) probe_run_->process().stop(2s);
    probe_run_.reset();
    funkhausd_.reset();
    Funkhausd::state_home.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // funkhausd with the virtual monitor, its own sound server and funkhaus-audio (`channels`),
  // Moonlight Embedded paired.
  void startHost(int channels) {
    const std::string config = test::gamestreamConfig(base_port_, "funkhaus-audio-e2e") +
                               test::smallMonitorConfig(kWidth, kHeight) +
                               "[audio]\nenabled = true\nchannels = " + std::to_string(channels) +
                               "\n";
    funkhausd_.emplace(config, false, "user", true,
                       std::vector<std::string>{"vdisplay", "capture", "encode", "net", "audio"});
    for (const char* name : {"vdisplay", "capture", "encode", "net", "audio"})
      ASSERT_TRUE(
          Funkhausd::waitFor(20s, [&] { return funkhausd_->worker(name)["state"] == "running"; }))
          << name << ": " << funkhausd_->status().dump() << "\n"
          << funkhausd_->log();
    ASSERT_TRUE(Funkhausd::waitFor(20s, [&] { return !pulseServer().empty(); }))
        << "no PULSE_SERVER in the status: " << funkhausd_->status().dump();
    ASSERT_NO_FATAL_FAILURE(pair("9753"));
  }

  std::string funkhausctl(const std::string& args) const {
    return test::funkhausctl(*funkhausd_, args).out;
  }

  // The session's sound server as `funkhausctl status --json` shows it ("" when absent).
  std::string pulseServer() const {
    const json s = json::parse(funkhausctl("status --json"), nullptr, false);
    if (!s.is_object() || !s.contains("sessions") || s["sessions"].empty()) return "";
    const json sound = s["sessions"][0].value("sound_server", json());
    if (!sound.is_object() || !sound["pulse_server"].is_string()) return "";
    return sound["pulse_server"].get<std::string>();
  }

  json gamestream() const {
    const json s = funkhausd_->status();
    if (!s.is_object() || !s.contains("sessions") || s["sessions"].empty()) return json();
    return s["sessions"][0].value("gamestream", json());
  }

  void pair(const std::string& pin) {
    test::pairMoonlight(moonlight_, dir_ / "client", base_port_, *funkhausd_, pin);
  }

  // The probe streaming for `seconds`, decoding `channels` of audio into probe.wav.
  void startProbe(int channels, int seconds, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--host",
                                     "127.0.0.1",
                                     "--http-port",
                                     std::to_string(base_port_),
                                     "--keydir",
                                     (dir_ / "client/keys").string(),
                                     "--width",
                                     std::to_string(kWidth),
                                     "--height",
                                     std::to_string(kHeight),
                                     "--fps",
                                     "30",
                                     "--bitrate",
                                     "2000",
                                     "--seconds",
                                     std::to_string(seconds),
                                     "--audio-channels",
                                     std::to_string(channels),
                                     "--audio-wav",
                                     (dir_ / "probe.wav").string(),
                                     "--quit"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto run = test::MoonlightRun::start(probe_, args, dir_ / "client");
    ASSERT_TRUE(run.ok()) << run.error().message;
    probe_run_.emplace(std::move(*run));
  }

  // Waits for the probe to end; its summary.
  json probeSummary() {
    EXPECT_TRUE(probe_run_->wait(60s).has_value()) << "the probe did not end";
    const std::string out = probe_run_->output();
    const size_t at = out.rfind("{\"type\":\"summary\"");
    return at == std::string::npos ? json() : json::parse(out.substr(at), nullptr, false);
  }

  // paplay of `file` into the session's sound server, started.
  std::optional<ChildProcess> startPlaying(const fs::path& file,
                                           const std::vector<std::string>& extra = {}) {
    ChildSpec spec;
    spec.program = "paplay";
    spec.args = extra;
    spec.args.push_back(file.string());
    spec.environment = test::environmentWith({"PULSE_SERVER=" + pulseServer()});
    auto process = ChildProcess::spawn(spec);
    EXPECT_TRUE(process.ok()) << process.error().message;
    if (!process) return std::nullopt;
    return std::move(*process);
  }
  // Waits for a tool to end well.
  static void finish(std::optional<ChildProcess>& process, const std::string& what) {
    if (!process) return;
    const auto status = process->wait(20s);
    EXPECT_TRUE(status.has_value() && !status->signaled && status->code == 0)
        << what << (status ? ": " + describeExit(*status) : ": did not end");
  }
  // paplay of `file`; the CLOCK_MONOTONIC time just before it started, once it has ended.
  int64_t play(const fs::path& file, const std::vector<std::string>& extra = {}) {
    const int64_t started = monotonicNs();
    auto process = startPlaying(file, extra);
    finish(process, "paplay " + file.string());
    return started;
  }

  std::string moonlight_;
  std::string probe_;
  uint16_t base_port_ = 0;
  fs::path dir_;
  std::optional<Funkhausd> funkhausd_;
  std::optional<test::MoonlightRun> probe_run_;
};

// The CLOCK_MONOTONIC time the probe received the packet that holds sample `sample` of its WAV
// file (from the summary's per-packet lists); nullopt past the end.
std::optional<int64_t> packetTimeOfSample(const json& audio, size_t sample) {
  const json& received = audio["packet_received_ns"];
  const json& samples = audio["packet_samples"];
  uint64_t sum = 0;
  for (size_t k = 0; k < samples.size() && k < received.size(); ++k) {
    sum += static_cast<uint64_t>(std::max(samples[k].get<int>(), 0));
    if (sum > sample) return received[k].get<int64_t>();
  }
  return std::nullopt;
}

// The tone test for GameStream: a 3 s 1 kHz tone played into the session reaches the
// probe at 1 kHz, within 1 dB of the source, with silence before and after, on both channels.
TEST_F(AudioHostTest, ToneReachesTheGameStreamClientAtItsFrequencyAndLevel) {
  ASSERT_NO_FATAL_FAILURE(startHost(2));
  const double amplitude = std::pow(10.0, -12.0 / 20);
  ASSERT_TRUE(test::writeWav((dir_ / "tone.wav").string(), toneFile(2, 0, 3, 0, amplitude),
                             test::WavFormat::kS16)
                  .ok());
  ASSERT_NO_FATAL_FAILURE(startProbe(2, 10));
  ASSERT_TRUE(Funkhausd::waitFor(20s, [&] {
    return gamestream().is_object() && gamestream()["phase"] == "playing";
  })) << funkhausd_->status().dump();
  std::this_thread::sleep_for(2s);  // silence first (the client drops its first 500 ms)
  const int64_t played_at = play(dir_ / "tone.wav");
  const json s = probeSummary();
  ASSERT_TRUE(s.is_object()) << probe_run_->output();
  EXPECT_EQ(s["connected"], true) << s.dump();
  EXPECT_TRUE(s["terminated_error"].is_null()) << s.dump();
  const json& audio = s["audio"];
  ASSERT_TRUE(audio["layout"].is_object()) << "no audio stream: " << audio.dump();
  EXPECT_EQ(audio["layout"]["channels"], 2) << audio.dump();
  EXPECT_EQ(audio["decode_errors"], 0) << audio.dump();
  EXPECT_EQ(audio["wav"], (dir_ / "probe.wav").string()) << audio.dump();
  auto wav = test::readWav((dir_ / "probe.wav").string());
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  ASSERT_EQ(wav->channels, 2);
  EXPECT_EQ(wav->sample_rate, 48000);
  const std::optional<size_t> first_start = checkStereoTone(*wav, amplitude, "GameStream");
  ASSERT_TRUE(first_start.has_value());
  const auto received = packetTimeOfSample(audio, *first_start);
  ASSERT_TRUE(received.has_value()) << audio.dump();
  std::printf(
      "[figures] audio latency, paplay started -> the probe received the packet with "
      "the tone's first sample: %.1f ms (one tone; includes paplay's start and "
      "buffering)\n",
      static_cast<double>(*received - played_at) / 1e6);
}

// The tone test for RTSP: ffmpeg (over TCP) records the stream's Opus track while the
// tone plays; the same checks as for GameStream.
TEST_F(AudioHostTest, ToneReachesFfmpegOverRtspAtItsFrequencyAndLevel) {
  ASSERT_NO_FATAL_FAILURE(startHost(2));
  const double amplitude = std::pow(10.0, -12.0 / 20);
  ASSERT_TRUE(test::writeWav((dir_ / "tone.wav").string(), toneFile(2, 0, 3, 0, amplitude),
                             test::WavFormat::kS16)
                  .ok());
  const json net = funkhausd_->status().value("net", json());
  ASSERT_TRUE(net.is_object() && net["rtsp_port"].is_number()) << funkhausd_->status().dump();
  test::FfmpegRecordingOptions o;
  o.input = "rtsp://127.0.0.1:" + std::to_string(net["rtsp_port"].get<int>()) +
            net["path"].get<std::string>();
  o.seconds = 8;
  o.wav = dir_ / "ffmpeg.wav";
  o.log = dir_ / "ffmpeg.log";
  auto recording = test::FfmpegRecording::start(o);
  ASSERT_TRUE(recording.ok()) << recording.error().message;
  // Audio flows once the file grows past its header plus 0.5 s of stereo float.
  ASSERT_TRUE(Funkhausd::waitFor(20s, [&] {
    std::error_code ec;
    return fs::file_size(o.wav, ec) > 44 + kRate * 8 / 2 && !ec;
  })) << recording->log();
  std::this_thread::sleep_for(1s);
  play(dir_ / "tone.wav");
  auto done = recording->wait(30s);
  ASSERT_TRUE(done.ok()) << done.error().message;
  auto wav = test::readWav(o.wav.string());
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  ASSERT_EQ(wav->channels, 2);
  EXPECT_EQ(wav->sample_rate, kRate);
  checkStereoTone(*wav, amplitude, "RTSP (ffmpeg)");
}

// The client's channel order and a tone per channel, far apart and no harmonics of each other;
// the LFE's is low enough for any low-pass on that channel.
constexpr const char* kChannelNames[] = {"FL", "FR", "C", "LFE", "BL", "BR", "SL", "SR"};
constexpr double kChannelTones[] = {1000, 1370, 590, 230, 2110, 2790, 3330, 1730};
constexpr const char* kPulseChannelMap[] = {"front-left", "front-right", "front-center",
                                            "lfe",        "rear-left",   "rear-right",
                                            "side-left",  "side-right"};

class AudioSurroundTest : public AudioHostTest, public ::testing::WithParamInterface<int> {};

// 5.1 and 7.1: a WAV with its own tone on each channel, played with the client's channel map,
// arrives with each tone on its own channel (the strongest there, 20 dB above every other
// channel's tone).
TEST_P(AudioSurroundTest, EachChannelsToneArrivesOnItsChannel) {
  const int channels = GetParam();
  ASSERT_NO_FATAL_FAILURE(startHost(channels));
  const double amplitude = std::pow(10.0, -18.0 / 20);
  test::PcmAudio source;
  source.channels = channels;
  const size_t frames = 2 * kRate;
  source.samples.resize(frames * static_cast<size_t>(channels));
  for (size_t i = 0; i < frames; ++i)
    for (int c = 0; c < channels; ++c)
      source.samples[i * channels + c] =
          static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * kChannelTones[c] *
                                                  static_cast<double>(i) / kRate));
  ASSERT_TRUE(test::writeWav((dir_ / "tones.wav").string(), source, test::WavFormat::kS16).ok());
  std::string map;
  for (int c = 0; c < channels; ++c) map += std::string(c ? "," : "") + kPulseChannelMap[c];
  ASSERT_NO_FATAL_FAILURE(startProbe(channels, 8));
  ASSERT_TRUE(Funkhausd::waitFor(20s, [&] {
    return gamestream().is_object() && gamestream()["phase"] == "playing";
  })) << funkhausd_->status().dump();
  std::this_thread::sleep_for(1500ms);
  play(dir_ / "tones.wav", {"--channel-map=" + map});
  const json s = probeSummary();
  ASSERT_TRUE(s.is_object()) << probe_run_->output();
  EXPECT_TRUE(s["terminated_error"].is_null()) << s.dump();
  ASSERT_TRUE(s["audio"]["layout"].is_object()) << s["audio"].dump();
  EXPECT_EQ(s["audio"]["layout"]["channels"], channels) << s["audio"].dump();
  EXPECT_EQ(s["audio"]["decode_errors"], 0) << s["audio"].dump();
  auto wav = test::readWav((dir_ / "probe.wav").string());
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  ASSERT_EQ(wav->channels, channels);
  for (int c = 0; c < channels; ++c) {
    const std::vector<float> x = wav->channel(c);
    auto tone = test::findTone(x, kRate, -40);
    ASSERT_TRUE(tone.has_value()) << kChannelNames[c] << ": nothing above -40 dBFS";
    const std::span<const float> middle =
        std::span(x).subspan(tone->start + kRate / 4, (tone->end - tone->start) - kRate / 2);
    const double own = test::toneAmplitude(middle, kChannelTones[c], kRate);
    double strongest_other = 0;
    int other = -1;
    for (int o = 0; o < channels; ++o) {
      if (o == c) continue;
      const double a = test::toneAmplitude(middle, kChannelTones[o], kRate);
      if (a > strongest_other) {
        strongest_other = a;
        other = o;
      }
    }
    const double margin_db = 20 * std::log10(own / std::max(strongest_other, 1e-12));
    EXPECT_NEAR(tone->dominant_hz, kChannelTones[c], 2.0) << kChannelNames[c];
    EXPECT_GT(margin_db, 20.0) << kChannelNames[c] << " carries " << kChannelNames[other]
                               << "'s tone too";
    std::printf(
        "[figures] %d channels, %s: %.2f Hz (sent %.0f), %.2f dBFS (source %.2f), "
        "%.1f dB above the next tone (%s's)\n",
        channels, kChannelNames[c], tone->dominant_hz, kChannelTones[c], tone->level_dbfs,
        test::sineDbfs(amplitude), margin_db, kChannelNames[other]);
  }
}

INSTANTIATE_TEST_SUITE_P(Audio, AudioSurroundTest, ::testing::Values(6, 8),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return p.param == 6 ? std::string("Surround51")
                                               : std::string("Surround71");
                         });

// A/V sync with the sync pattern (issue 14): funkhausd with the synthetic picture flashing white
// and funkhaus-audio's sync source clicking (5 ms of 1 kHz at -6 dBFS), both at each whole
// second of CLOCK_MONOTONIC, so flash and click share one capture instant with no tool's start-up
// in between. The offset printed per second is click - flash (> 0: the sound comes late) as the
// viewer gets them, and its median; the target is |offset| <= 20 ms, printed, not
// asserted (a shared, noisy machine). Asserted: flashes and clicks arrive, one of each a second,
// paired.
constexpr int kSyncPeriodMs = 1000;
constexpr int kSyncSeconds = 8;

// Where each flash begins: the first frame of every run of bright frames (mean luma > 128).
std::vector<size_t> flashStarts(const std::vector<double>& luma) {
  std::vector<size_t> out;
  for (size_t i = 0; i < luma.size(); ++i)
    if (luma[i] > 128 && (i == 0 || luma[i - 1] <= 128)) out.push_back(i);
  return out;
}

// Where each click begins in one channel: the first sample above -20 dBFS (the click peaks at
// -6 dBFS, the rest is digital silence through Opus), then on from half a period later.
std::vector<size_t> clickStarts(std::span<const float> x) {
  std::vector<size_t> out;
  size_t from = 0;
  while (auto at = test::firstSampleAbove(x, -20, from)) {
    out.push_back(*at);
    from = *at + static_cast<size_t>(kRate) * kSyncPeriodMs / 2000;
  }
  return out;
}

// Pairs each flash time with the nearest click time within half a period; click - flash in ms
// for each pair. `what` names the path in the printed lines.
std::vector<double> pairOffsets(const std::vector<double>& flashes_s,
                                const std::vector<double>& clicks_s, const char* what) {
  std::vector<double> offsets;
  for (size_t k = 0; k < flashes_s.size(); ++k) {
    std::optional<double> nearest;
    for (double c : clicks_s)
      if (!nearest || std::fabs(c - flashes_s[k]) < std::fabs(*nearest - flashes_s[k])) nearest = c;
    if (!nearest || std::fabs(*nearest - flashes_s[k]) * 1000 > kSyncPeriodMs / 2.0) {
      std::printf("[figures] %s flash %zu at %.3f s: no click within half a period\n", what, k,
                  flashes_s[k]);
      continue;
    }
    offsets.push_back((*nearest - flashes_s[k]) * 1000);
    std::printf("[figures] %s sync %zu: flash at %.3f s, click at %.3f s, A/V offset %+.1f ms\n",
                what, k, flashes_s[k], *nearest, offsets.back());
  }
  return offsets;
}

void printOffsets(std::vector<double> offsets, const char* what) {
  if (offsets.empty()) return;
  std::sort(offsets.begin(), offsets.end());
  std::printf(
      "[figures] %s A/V offset (click - flash, one capture instant): median %+.1f ms, from "
      "%+.1f to %+.1f ms over %zu periods (target |offset| <= 20 ms)\n",
      what, offsets[offsets.size() / 2], offsets.front(), offsets.back(), offsets.size());
}

// Keeps the flashes and clicks that lie where both recordings run, a tenth of a period in from
// either end: a flash before the client's first sound (it drops its first 500 ms) or after its
// last one has no click to pair with, and the same for a click outside the pictures.
void keepWhereBothRecord(std::vector<double>& flashes_s, std::vector<double>& clicks_s,
                         std::pair<double, double> video_s, std::pair<double, double> audio_s) {
  const double margin = kSyncPeriodMs / 10000.0;
  const double from = std::max(video_s.first, audio_s.first) + margin;
  const double to = std::min(video_s.second, audio_s.second) - margin;
  for (std::vector<double>* times : {&flashes_s, &clicks_s})
    std::erase_if(*times, [&](double t) { return t < from || t > to; });
}

// What every sync test asserts: about one flash and one click a second, as many of each, and
// (nearly) all of them paired.
void expectOnePairPerPeriod(size_t flashes, size_t clicks, size_t pairs, const std::string& log) {
  EXPECT_GE(flashes, static_cast<size_t>(kSyncSeconds - 3)) << log;
  EXPECT_GE(clicks, static_cast<size_t>(kSyncSeconds - 3)) << log;
  EXPECT_LE(flashes > clicks ? flashes - clicks : clicks - flashes, 1u)
      << flashes << " flashes, " << clicks << " clicks\n"
      << log;
  EXPECT_GE(pairs + 1, std::min(flashes, clicks)) << log;
}

class AvSyncTest : public AudioHostTest {
 protected:
  // funkhausd with the synthetic picture (flashing) and the audio worker's sync source; no
  // virtual monitor, no sound server.
  void startSyncHost() {
    const std::string config =
        test::gamestreamConfig(base_port_, "funkhaus-av-sync") +
        "[capture]\nsource = \"synthetic\"\nwidth = " + std::to_string(kWidth) +
        "\nheight = " + std::to_string(kHeight) +
        "\nfps = 30\nsync_flash_ms = " + std::to_string(kSyncPeriodMs) +
        "\n[rings]\nmax_width = 1024\nmax_height = 768\n[encode]\nbitrate_kbps = 2000\n"
        "[audio]\nenabled = true\nsource = \"sync\"\nsync_click_ms = " +
        std::to_string(kSyncPeriodMs) + "\n";
    funkhausd_.emplace(config, false, "user", true,
                       std::vector<std::string>{"capture", "encode", "net", "audio"});
    for (const char* name : {"capture", "encode", "net", "audio"})
      ASSERT_TRUE(
          Funkhausd::waitFor(20s, [&] { return funkhausd_->worker(name)["state"] == "running"; }))
          << name << ": " << funkhausd_->status().dump() << "\n"
          << funkhausd_->log();
    EXPECT_EQ(pulseServer(), "") << "the sync source needs no sound server";
  }
};

// GameStream: the probe decodes every picture (CLOCK_MONOTONIC after decoding, mean luma) and the
// sound (each packet's arrival time); a flash is when its picture was decoded, a click when the
// packet with its first sample arrived.
TEST_F(AvSyncTest, FlashAndClickOfTheSyncPatternReachTheGameStreamClientTogether) {
  ASSERT_NO_FATAL_FAILURE(startSyncHost());
  ASSERT_NO_FATAL_FAILURE(pair("4862"));
  ASSERT_NO_FATAL_FAILURE(startProbe(2, kSyncSeconds, {"--picture-luma"}));
  const json s = probeSummary();
  ASSERT_TRUE(s.is_object()) << probe_run_->output();
  ASSERT_TRUE(s.contains("pictures") && s.contains("audio")) << s.dump();
  const json& decoded_ns = s["pictures"]["decoded_ns"];
  std::vector<double> luma;
  for (const json& l : s["pictures"]["mean_luma"]) luma.push_back(l.get<double>());
  ASSERT_EQ(luma.size(), decoded_ns.size());
  auto wav = test::readWav((dir_ / "probe.wav").string());
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  const std::vector<float> x = wav->channel(0);
  // Both on the probe's CLOCK_MONOTONIC, in seconds.
  const auto seconds = [](const json& ns) { return static_cast<double>(ns.get<int64_t>()) / 1e9; };
  std::vector<double> flashes_s, clicks_s;
  for (size_t i : flashStarts(luma)) flashes_s.push_back(seconds(decoded_ns[i]));
  for (size_t sample : clickStarts(x))
    if (auto at = packetTimeOfSample(s["audio"], sample))
      clicks_s.push_back(static_cast<double>(*at) / 1e9);
  const json& received_ns = s["audio"]["packet_received_ns"];
  ASSERT_FALSE(decoded_ns.empty() || received_ns.empty()) << s.dump();
  keepWhereBothRecord(flashes_s, clicks_s,
                      {seconds(decoded_ns.front()), seconds(decoded_ns.back())},
                      {seconds(received_ns.front()), seconds(received_ns.back())});
  const std::vector<double> offsets = pairOffsets(flashes_s, clicks_s, "GameStream");
  printOffsets(offsets, "GameStream");
  expectOnePairPerPeriod(flashes_s.size(), clicks_s.size(), offsets.size(),
                         probe_run_->output().substr(0, 4000));
}

// RTSP: ffmpeg records the picture (gray frames with their presentation times) and the sound;
// both on ffmpeg's own timeline, which is where an RTSP player lines the two tracks up.
TEST_F(AvSyncTest, FlashAndClickOfTheSyncPatternLineUpInFfmpegOverRtsp) {
  ASSERT_NO_FATAL_FAILURE(startSyncHost());
  const json net = funkhausd_->status().value("net", json());
  ASSERT_TRUE(net.is_object() && net["rtsp_port"].is_number()) << funkhausd_->status().dump();
  test::FfmpegRecordingOptions o;
  o.input = "rtsp://127.0.0.1:" + std::to_string(net["rtsp_port"].get<int>()) +
            net["path"].get<std::string>();
  o.seconds = kSyncSeconds;
  o.wav = dir_ / "ffmpeg.wav";
  o.video = dir_ / "ffmpeg.gray";
  o.width = 160;
  o.height = 120;
  o.log = dir_ / "ffmpeg.log";
  auto recording = test::FfmpegRecording::start(o);
  ASSERT_TRUE(recording.ok()) << recording.error().message;
  auto done = recording->wait(60s);
  ASSERT_TRUE(done.ok()) << done.error().message;
  const std::vector<double> pts = recording->videoPts();
  const auto audio_pts = recording->firstAudioPts();
  ASSERT_TRUE(audio_pts.has_value()) << recording->log();
  // Each frame's mean luma (every 4th pixel).
  std::vector<double> luma;
  {
    std::ifstream in(*o.video, std::ios::binary);
    std::vector<unsigned char> frame(static_cast<size_t>(o.width) * o.height);
    while (in.read(reinterpret_cast<char*>(frame.data()),
                   static_cast<std::streamsize>(frame.size()))) {
      uint64_t sum = 0;
      for (size_t i = 0; i < frame.size(); i += 4) sum += frame[i];
      luma.push_back(static_cast<double>(sum) / static_cast<double>(frame.size() / 4));
    }
  }
  ASSERT_EQ(luma.size(), pts.size()) << recording->log();
  auto wav = test::readWav(o.wav.string());
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  const std::vector<float> x = wav->channel(0);
  std::vector<double> flashes_s, clicks_s;
  for (size_t i : flashStarts(luma)) flashes_s.push_back(pts[i]);
  // A click's time: the pts of the audio frame that holds its first sample, plus where in the
  // frame it is (the WAV's samples run on across a jump of the pts, e.g. when ffmpeg first
  // lines the tracks up by the sender reports).
  const std::vector<test::FfmpegRecording::AudioFrame> frames = recording->audioFrames();
  for (size_t sample : clickStarts(x)) {
    uint64_t first = 0;
    for (const auto& f : frames) {
      if (sample < first + f.samples) {
        clicks_s.push_back(f.pts + static_cast<double>(sample - first) / kRate);
        break;
      }
      first += f.samples;
    }
  }
  ASSERT_FALSE(pts.empty() || frames.empty()) << recording->log();
  keepWhereBothRecord(
      flashes_s, clicks_s, {pts.front(), pts.back()},
      {frames.front().pts, frames.back().pts + static_cast<double>(frames.back().samples) / kRate});
  const std::vector<double> offsets = pairOffsets(flashes_s, clicks_s, "RTSP (ffmpeg)");
  printOffsets(offsets, "RTSP (ffmpeg)");
  expectOnePairPerPeriod(flashes_s.size(), clicks_s.size(), offsets.size(), recording->log());
}

// Live restart: while a 10 s tone plays, kill -9 of funkhaus-audio and, later, of funkhaus-net.
// The probe's stream never ends and the tone comes back after each; the silence each kill costs
// the listener (from the last packet with the tone before the kill to the first one after, on
// the probe's receive clock) is printed. At most 5 s each ("a short silence", with room for a
// loaded machine).
TEST_F(AudioHostTest, KillOfAudioOrNetCostsAShortSilenceNotTheStream) {
  ASSERT_NO_FATAL_FAILURE(startHost(2));
  ASSERT_TRUE(test::writeWav((dir_ / "tone.wav").string(),
                             toneFile(2, 0, 10, 0, std::pow(10.0, -12.0 / 20)),
                             test::WavFormat::kS16)
                  .ok());
  ASSERT_NO_FATAL_FAILURE(startProbe(2, 15));
  ASSERT_TRUE(Funkhausd::waitFor(20s, [&] {
    return gamestream().is_object() && gamestream()["phase"] == "playing";
  })) << funkhausd_->status().dump();
  std::this_thread::sleep_for(1500ms);
  auto player = startPlaying(dir_ / "tone.wav");
  std::vector<std::pair<std::string, int64_t>> kills;
  for (const char* name : {"audio", "net"}) {
    std::this_thread::sleep_for(3s);
    const json w = funkhausd_->worker(name);
    ASSERT_TRUE(w.is_object() && w["pid"].is_number()) << funkhausd_->status().dump();
    kills.emplace_back(name, monotonicNs());
    ASSERT_EQ(::kill(w["pid"].get<pid_t>(), SIGKILL), 0) << name;
    EXPECT_TRUE(Funkhausd::waitFor(10s,
                                   [&] {
                                     const json again = funkhausd_->worker(name);
                                     return again.is_object() && again["state"] == "running" &&
                                            again["pid"] != w["pid"];
                                   }))
        << name << " came back: " << funkhausd_->worker(name).dump();
  }
  finish(player, "paplay tone");
  const json s = probeSummary();
  ASSERT_TRUE(s.is_object()) << probe_run_->output();
  EXPECT_EQ(s["connected"], true) << s.dump();
  EXPECT_TRUE(s["terminated_error"].is_null()) << s.dump();
  EXPECT_EQ(s["exit_code"], 0) << s.dump();
  auto wav = test::readWav((dir_ / "probe.wav").string());
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  const std::vector<float> x = wav->channel(0);
  // Each packet's receive time and whether it carried the tone (a sample above -40 dBFS).
  const json& received = s["audio"]["packet_received_ns"];
  const json& samples = s["audio"]["packet_samples"];
  ASSERT_EQ(received.size(), samples.size());
  std::vector<std::pair<int64_t, bool>> packets;
  size_t at = 0;
  for (size_t k = 0; k < samples.size(); ++k) {
    const auto n = static_cast<size_t>(std::max(samples[k].get<int>(), 0));
    packets.emplace_back(received[k].get<int64_t>(), n > 0 && !test::isSilent(x, at, at + n, -40));
    at += n;
  }
  for (const auto& [name, killed_at] : kills) {
    std::optional<int64_t> before, after;
    for (const auto& [t, audible] : packets) {
      if (!audible) continue;
      if (t < killed_at) before = t;
      if (t >= killed_at && !after) after = t;
    }
    ASSERT_TRUE(before.has_value()) << name << ": no tone before the kill";
    ASSERT_TRUE(after.has_value()) << name << ": the tone never came back after the kill";
    const double silence_ms = static_cast<double>(*after - *before) / 1e6;
    EXPECT_LT(silence_ms, 5000) << name;
    std::printf(
        "[figures] kill -9 %s while a tone plays: %.0f ms without the tone at the "
        "GameStream client (last tone packet before the kill -> first after)\n",
        name.c_str(), silence_ms);
  }
}

// Latency: ten 100 ms tone bursts 500 ms apart in one paplay; for each, the time from its place
// in the file (paplay's start + k * 500 ms) to the probe receiving the packet with its first
// sample. p50 and max printed, not asserted.
TEST_F(AudioHostTest, ToneBurstLatencyFromPaplayToTheClient) {
  ASSERT_NO_FATAL_FAILURE(startHost(2));
  constexpr int kBursts = 10;
  const double amplitude = std::pow(10.0, -12.0 / 20);
  test::PcmAudio bursts;
  bursts.channels = 2;
  for (int k = 0; k < kBursts; ++k) {
    const test::PcmAudio one = toneFile(2, 0, 0.1, 0.4, amplitude);
    bursts.samples.insert(bursts.samples.end(), one.samples.begin(), one.samples.end());
  }
  ASSERT_TRUE(test::writeWav((dir_ / "bursts.wav").string(), bursts, test::WavFormat::kS16).ok());
  ASSERT_NO_FATAL_FAILURE(startProbe(2, 10));
  ASSERT_TRUE(Funkhausd::waitFor(20s, [&] {
    return gamestream().is_object() && gamestream()["phase"] == "playing";
  })) << funkhausd_->status().dump();
  std::this_thread::sleep_for(1500ms);
  const int64_t played_at = play(dir_ / "bursts.wav");
  const json s = probeSummary();
  ASSERT_TRUE(s.is_object()) << probe_run_->output();
  ASSERT_TRUE(s["audio"].contains("packet_received_ns")) << s["audio"].dump();
  auto wav = test::readWav((dir_ / "probe.wav").string());
  ASSERT_TRUE(wav.ok()) << wav.error().message;
  const std::vector<float> x = wav->channel(0);
  std::vector<double> latency_ms;
  size_t from = 0;
  for (int k = 0; k < kBursts; ++k) {
    const auto start = test::firstSampleAbove(x, -40, from);
    ASSERT_TRUE(start.has_value()) << "burst " << k << " not found";
    const auto received = packetTimeOfSample(s["audio"], *start);
    ASSERT_TRUE(received.has_value());
    latency_ms.push_back(static_cast<double>(*received - played_at) / 1e6 - 500.0 * k);
    from = *start + kRate / 4;  // past this burst, before the next
  }
  EXPECT_FALSE(test::firstSampleAbove(x, -40, from).has_value()) << "more than ten bursts";
  std::vector<double> sorted = latency_ms;
  std::sort(sorted.begin(), sorted.end());
  std::string each;
  for (double l : latency_ms) each += (each.empty() ? "" : " ") + std::to_string(std::lround(l));
  std::printf(
      "[figures] audio latency, a burst's place in paplay's stream -> the probe received "
      "its first packet: p50 %.1f ms, max %.1f ms over %d bursts (each: %s ms)\n",
      sorted[sorted.size() / 2], sorted.back(), kBursts, each.c_str());
}

}  // namespace
}  // namespace funkhaus
