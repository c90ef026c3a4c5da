// gamestream_probe: funkhaus's own GameStream test client on moonlight-common-c (GPL-3.0, linked
// only here, in the test-client cache that build.sh makes). It launches an app with the
// certificate a paired Moonlight Embedded left in its key directory, streams it, decodes every
// access unit, reads the capture barcode, decodes every audio packet (libopus; optionally into a
// WAV file) and prints JSON: one line per second and a summary; with --input-script it also sends
// input (LiSend*) and prints a line per action.
#include <Limelight.h>
#include <openssl/rand.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audio_decoder.h"
#include "gamestream_http.h"
#include "input_script.h"
#include "loss_proxy.h"
#include "stream_stats.h"
#include "video_decoder.h"

namespace funkhaus::probe {
namespace {

namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    R"(Usage: gamestream_probe --host ADDR --http-port PORT --keydir DIR [options]

funkhaus's GameStream test client (moonlight-common-c): launches an app over HTTPS with the
certificate Moonlight Embedded made when it paired with DIR as -keydir, streams it, decodes every
frame (libavcodec), reads funkhaus's capture barcode from it and reports.

  --host ADDR              host address, IPv4 or name (required)
  --http-port PORT         the host's GameStream HTTP (base) port (required)
  --keydir DIR             Moonlight Embedded's key directory: client.pem, key.pem,
                           uniqueid.dat (required)
  --app TITLE              app to launch (default Desktop)
  --width W, --height H    stream size (default 1280 x 720)
  --fps F                  frame rate (default 60)
  --bitrate KBPS           video bitrate including FEC (default 10000)
  --codec h264|hevc        codec offered to the host (default h264)
  --seconds S              how long to stream once connected (default 10; fractions allowed)
  --packet-size N          video packet size (default 1392)
  --proxy-address ADDR     connect to ADDR (e.g. 127.0.0.2) where the probe forwards the host's
                           RTSP port and UDP ports PORT+9, +10, +11 to --host
  --drop-video-percent P   with --proxy-address: drop P % (0..100) of the host's video datagrams
  --report FILE            write the summary JSON to FILE as well
  --audio-channels 2|6|8   audio asked for: stereo (default), 5.1 or 7.1 (the stream's
                           audioConfiguration and the launch's surroundAudioInfo)
  --audio-wav FILE         write the decoded audio to FILE (WAV, 32-bit float, 48 kHz, the
                           negotiated channels in the order FL FR C LFE BL BR SL SR; a lost
                           packet's concealment included) and list every audio packet in the
                           summary (see below)
  --picture-luma           list every decoded picture in the summary: "pictures" {"decoded_ns"
                           (CLOCK_MONOTONIC after decoding), "mean_luma" (0..255)}, e.g. to
                           find a flash of the picture
  --input-script FILE      once the first frame is decoded, perform FILE's input actions in
                           order (keys, text, pointer, buttons, wheels, sleeps, marks, waits for
                           a file; see input_script.h) and print one line per action
                           {"type":"input","action",...,"sent_ns" (CLOCK_MONOTONIC),"rc"};
                           streaming still ends after --seconds (an unfinished script with it)
  --quit                   /cancel the app after streaming
  --help                   this text

Output on stdout: one JSON line per second {"t","decoded","fps",...,"type":"second"}, one per
rumble message of the host {"type":"rumble","controller","low","high","received_ns"}, then one
summary line {"type":"summary",...} (with --input-script: its "input" {"actions","performed",
"failed","started_ns"}). The summary's "audio": {"packets" (lost ones included), "lost",
"decode_errors","last_decode_error","samples" (decoded per channel),"layout" (null before the
audio stream: {"channels","streams","coupled_streams","samples_per_frame","sample_rate",
"mapping","audio_configuration_channels"}),"first_packet_ns","last_packet_ns","wav" (the
file or null)}; with --audio-wav also "packet_received_ns" and "packet_samples": for each packet
in the order decoded, CLOCK_MONOTONIC when the library handed it over (it gives no RTP
sequence or timestamp) and the samples per channel it added to the WAV file, so sample i of the
file came in the packet where the running sum of packet_samples first exceeds i. Log on stderr. Exit status: 0 connected and never
terminated, 1 otherwise, 2 usage error.
)";

struct Options {
  std::string host;
  int http_port = 0;
  std::string keydir;
  std::string app = "Desktop";
  int width = 1280;
  int height = 720;
  int fps = 60;
  int bitrate = 10000;
  std::string codec = "h264";
  double seconds = 10;
  int packet_size = 1392;
  std::string proxy_address;
  std::optional<double> drop_video_percent;
  std::string report;
  int audio_channels = 2;
  std::string audio_wav;
  bool picture_luma = false;
  std::optional<std::vector<InputAction>> input_script;
  bool quit = false;
  bool help = false;
};

Result<int> parseInt(const std::string& name, const std::string& text, int lo, int hi) {
  int value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < lo || value > hi)
    return makeError(ErrorCode::kBadConfig, "{}: expected an integer in {}..{}, got '{}'", name, lo,
                     hi, text);
  return value;
}

Result<double> parseNumber(const std::string& name, const std::string& text, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || errno != 0 || *end != '\0' || !(value >= lo && value <= hi))
    return makeError(ErrorCode::kBadConfig, "{}: expected a number in {}..{}, got '{}'", name, lo,
                     hi, text);
  return value;
}

Result<Options> parseOptions(int argc, char** argv) {
  Options o;
  bool have_http_port = false;
  for (int i = 1; i < argc; ++i) {
    std::string name = argv[i];
    std::optional<std::string> inline_value;
    if (const size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "--help" || name == "-h") {
      o.help = true;
      return o;
    }
    if (name == "--quit") {
      o.quit = true;
      continue;
    }
    if (name == "--picture-luma") {
      o.picture_luma = true;
      continue;
    }
    static constexpr const char* kValueOptions[] = {"--host",
                                                    "--http-port",
                                                    "--keydir",
                                                    "--app",
                                                    "--width",
                                                    "--height",
                                                    "--fps",
                                                    "--bitrate",
                                                    "--codec",
                                                    "--seconds",
                                                    "--packet-size",
                                                    "--proxy-address",
                                                    "--drop-video-percent",
                                                    "--report",
                                                    "--audio-channels",
                                                    "--audio-wav",
                                                    "--input-script"};
    if (std::find(std::begin(kValueOptions), std::end(kValueOptions), name) ==
        std::end(kValueOptions))
      return makeError(ErrorCode::kBadConfig, "unknown argument '{}'", argv[i]);
    auto value = [&]() -> Result<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) return makeError(ErrorCode::kBadConfig, "{} needs a value", name);
      return std::string(argv[++i]);
    };
    auto v = value();
    if (!v) return v.error();
    const std::string& text = *v;
    auto setInt = [&](int& field, int lo, int hi) -> Result<void> {
      auto n = parseInt(name, text, lo, hi);
      if (!n) return n.error();
      field = *n;
      return {};
    };
    Result<void> set;
    if (name == "--host") {
      if (text.empty()) return makeError(ErrorCode::kBadConfig, "--host: empty");
      o.host = text;
    } else if (name == "--http-port") {
      set = setInt(o.http_port, 12, 65535 - 11);  // its offsets -5 .. +11 are ports too
      have_http_port = true;
    } else if (name == "--keydir") {
      o.keydir = text;
    } else if (name == "--app") {
      o.app = text;
    } else if (name == "--width") {
      set = setInt(o.width, 64, 16384);
    } else if (name == "--height") {
      set = setInt(o.height, 64, 16384);
    } else if (name == "--fps") {
      set = setInt(o.fps, 1, 1000);
    } else if (name == "--bitrate") {
      set = setInt(o.bitrate, 100, 1000000);
    } else if (name == "--codec") {
      if (text != "h264" && text != "hevc")
        return makeError(ErrorCode::kBadConfig, "--codec: expected h264 or hevc, got '{}'", text);
      o.codec = text;
    } else if (name == "--seconds") {
      auto s = parseNumber(name, text, 0, 86400);
      if (!s) return s.error();
      o.seconds = *s;
    } else if (name == "--packet-size") {
      set = setInt(o.packet_size, 256, 65000);
    } else if (name == "--proxy-address") {
      if (text.empty()) return makeError(ErrorCode::kBadConfig, "--proxy-address: empty");
      o.proxy_address = text;
    } else if (name == "--drop-video-percent") {
      auto p = parseNumber(name, text, 0, 100);
      if (!p) return p.error();
      o.drop_video_percent = *p;
    } else if (name == "--report") {
      o.report = text;
    } else if (name == "--audio-channels") {
      if (text != "2" && text != "6" && text != "8")
        return makeError(ErrorCode::kBadConfig, "--audio-channels: expected 2, 6 or 8, got '{}'",
                         text);
      o.audio_channels = text[0] - '0';
    } else if (name == "--audio-wav") {
      if (text.empty()) return makeError(ErrorCode::kBadConfig, "--audio-wav: empty");
      o.audio_wav = text;
    } else if (name == "--input-script") {
      auto script = loadInputScript(text);
      if (!script)
        return makeError(ErrorCode::kBadConfig, "--input-script: {}", script.error().message);
      o.input_script = std::move(*script);
    } else {
      return makeError(ErrorCode::kBadConfig, "unknown argument '{}'", argv[i]);
    }
    if (!set) return set.error();
  }
  if (o.host.empty()) return makeError(ErrorCode::kBadConfig, "--host is required");
  if (!have_http_port) return makeError(ErrorCode::kBadConfig, "--http-port is required");
  if (o.keydir.empty()) return makeError(ErrorCode::kBadConfig, "--keydir is required");
  std::error_code ec;
  if (!fs::is_directory(o.keydir, ec))
    return makeError(ErrorCode::kBadConfig, "--keydir: '{}' is not a directory", o.keydir);
  if (o.drop_video_percent && o.proxy_address.empty())
    return makeError(ErrorCode::kBadConfig, "--drop-video-percent needs --proxy-address");
  return o;
}

// Everything moonlight-common-c's callbacks (plain C functions) reach.
struct StageRecord {
  std::string stage;
  std::string state;  // complete | failed
  double ms = 0;      // since LiStartConnection was called
  std::optional<int> error;
};

struct Session {
  StreamStats stats;
  Timestamps start{};
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<StageRecord> stages;
  std::optional<StageRecord> failed_stage;
  std::optional<int> terminated;
  bool connecting_done = false;
  bool finished = false;
  bool input_stop = false;  // the input script stops (the stream is ending)
  uint64_t poor_status = 0;
  // Video: set up on the main thread, used on the receive thread.
  int video_format = 0;
  int width = 0;
  int height = 0;
  int redraw_rate = 0;
  std::unique_ptr<VideoDecoder> decoder;
  std::vector<uint8_t> au;
  uint64_t logged_errors = 0;
  // Audio: made by the renderer's init, used on the audio receive thread.
  std::string audio_wav;
  std::unique_ptr<AudioDecoder> audio_decoder;
  uint64_t logged_audio_errors = 0;
};

Session* g_session = nullptr;
volatile std::sig_atomic_t g_signalled = 0;

void onSignal(int) { g_signalled = 1; }

double msSinceStart() {
  return static_cast<double>(now().monotonic_ns - g_session->start.monotonic_ns) / 1e6;
}

void recordStage(int stage, const char* state, std::optional<int> error) {
  std::lock_guard lock(g_session->mutex);
  StageRecord r{LiGetStageName(stage), state, std::round(msSinceStart() * 10) / 10, error};
  g_session->stages.push_back(r);
  if (error) g_session->failed_stage = r;
}

void stageStarting(int stage) { spdlog::info("stage {}: starting", LiGetStageName(stage)); }

void stageComplete(int stage) {
  spdlog::info("stage {}: complete", LiGetStageName(stage));
  recordStage(stage, "complete", std::nullopt);
}

void stageFailed(int stage, int error) {
  spdlog::error("stage {}: FAILED with error {}", LiGetStageName(stage), error);
  recordStage(stage, "failed", error);
}

void connectionStarted() { spdlog::info("connection started"); }

void connectionTerminated(int error) {
  spdlog::error("connection terminated: error {}", error);
  std::lock_guard lock(g_session->mutex);
  g_session->terminated = error;
  g_session->changed.notify_all();
}

void connectionStatusUpdate(int status) {
  spdlog::info("connection status: {}", status == CONN_STATUS_POOR ? "poor" : "okay");
  if (status == CONN_STATUS_POOR) {
    std::lock_guard lock(g_session->mutex);
    ++g_session->poor_status;
  }
}

void logMessage(const char* format, ...) {
  char text[2048];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  std::string line = text;
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (!line.empty()) spdlog::info("common-c: {}", line);
}

int videoSetup(int video_format, int width, int height, int redraw_rate, void*, int) {
  auto decoder = VideoDecoder::create(video_format);
  if (!decoder) {
    spdlog::error("video setup: {}", decoder.error().message);
    return -1;
  }
  spdlog::info("video: format 0x{:x} ({}), {}x{} at {} fps", video_format, (*decoder)->codecName(),
               width, height, redraw_rate);
  g_session->video_format = video_format;
  g_session->width = width;
  g_session->height = height;
  g_session->redraw_rate = redraw_rate;
  g_session->decoder = std::move(*decoder);
  return 0;
}

void videoCleanup() { g_session->decoder.reset(); }

void decodeFailed(const std::string& message, bool corrupt) {
  g_session->stats.onDecodeError(message, corrupt);
  if (++g_session->logged_errors <= 20) spdlog::warn("decode: {}", message);
}

int submitDecodeUnit(PDECODE_UNIT du) {
  Session& s = *g_session;
  s.au.clear();
  for (PLENTRY e = du->bufferList; e != nullptr; e = e->next)
    s.au.insert(s.au.end(), e->data, e->data + e->length);
  s.stats.onDecodeUnit(du->frameNumber, du->frameType == FRAME_TYPE_IDR,
                       du->frameHostProcessingLatency,
                       static_cast<double>(du->enqueueTimeUs - du->receiveTimeUs) / 1000.0);
  if (!s.decoder) {
    decodeFailed("no decoder", false);
    return DR_NEED_IDR;
  }
  auto pictures = s.decoder->decode(s.au);
  if (!pictures) {
    decodeFailed(fmt::format("frame {}: {}", du->frameNumber, pictures.error().message), false);
    return DR_NEED_IDR;
  }
  bool need_idr = false;
  for (const DecodedPicture& p : *pictures) {
    const Timestamps at = now();
    if (p.corrupt) {
      decodeFailed(
          fmt::format("frame {}: the decoder flagged the picture corrupt", du->frameNumber), true);
      need_idr = true;
    }
    s.stats.onPicture(at, static_cast<double>(LiGetMicroseconds() - du->receiveTimeUs) / 1000.0,
                      p.barcode, p.barcode_error, p.mean_luma);
  }
  return need_idr ? DR_NEED_IDR : DR_OK;
}

// The stream's Opus layout: a decoder for it (and the WAV file, with --audio-wav).
int audioInit(int audio_configuration, const POPUS_MULTISTREAM_CONFIGURATION opus, void*, int) {
  OpusLayout layout;
  layout.sample_rate = opus->sampleRate;
  layout.channels = opus->channelCount;
  layout.streams = opus->streams;
  layout.coupled_streams = opus->coupledStreams;
  layout.samples_per_frame = opus->samplesPerFrame;
  std::copy(std::begin(opus->mapping), std::end(opus->mapping), layout.mapping.begin());
  Json mapping = Json::array();
  for (int c = 0; c < std::clamp(opus->channelCount, 0, 8); ++c)
    mapping.push_back(opus->mapping[c]);
  spdlog::info(
      "audio: {} Hz, {} channels, {} streams ({} coupled), mapping {}, {} samples per "
      "packet",
      opus->sampleRate, opus->channelCount, opus->streams, opus->coupledStreams, mapping.dump(),
      opus->samplesPerFrame);
  g_session->stats.setAudioLayout(
      Json{{"channels", opus->channelCount},
           {"streams", opus->streams},
           {"coupled_streams", opus->coupledStreams},
           {"samples_per_frame", opus->samplesPerFrame},
           {"sample_rate", opus->sampleRate},
           {"mapping", mapping},
           {"audio_configuration_channels",
            CHANNEL_COUNT_FROM_AUDIO_CONFIGURATION(audio_configuration)}});
  auto decoder = AudioDecoder::create(layout, g_session->audio_wav);
  if (!decoder) {
    spdlog::error("audio init: {}", decoder.error().message);
    return -1;
  }
  g_session->audio_decoder = std::move(*decoder);
  return 0;
}

// Called on the audio receive thread as each packet arrives (CAPABILITY_DIRECT_SUBMIT); a null
// packet stands for a lost one.
void audioSample(char* data, int length) {
  Session& s = *g_session;
  const Timestamps at = now();
  const bool lost = data == nullptr || length <= 0;
  int samples = 0;
  if (!s.audio_decoder) {
    s.stats.onAudioDecodeError("no audio decoder");
  } else {
    auto decoded =
        s.audio_decoder->decode(reinterpret_cast<const unsigned char*>(data), lost ? 0 : length);
    if (decoded) {
      samples = *decoded;
    } else {
      s.stats.onAudioDecodeError(decoded.error().message);
      if (++s.logged_audio_errors <= 20) spdlog::warn("audio: {}", decoded.error().message);
    }
  }
  s.stats.onAudioPacket(at, lost, samples);
}

// The stream ended: the WAV file is finished (the decoder stays for the summary).
void audioCleanup() {
  if (!g_session->audio_decoder) return;
  if (auto closed = g_session->audio_decoder->close(); !closed)
    spdlog::error("--audio-wav: {}", closed.error().message);
}

// The port after the last ':' of sessionUrl0 (48010 when there is none).
uint16_t rtspPort(const std::string& url) {
  const size_t colon = url.rfind(':');
  if (colon == std::string::npos || url.compare(colon, 3, "://") == 0) return 48010;
  const unsigned long port = std::strtoul(url.c_str() + colon + 1, nullptr, 10);
  return port > 0 && port <= 65535 ? static_cast<uint16_t>(port) : 48010;
}

void emit(const Json& line) {
  std::fputs((line.dump() + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// The host's rumble (control message 0x010B): one JSON line each.
void rumble(unsigned short controller, unsigned short low, unsigned short high) {
  Json line;
  line["type"] = "rumble";
  line["controller"] = controller;
  line["low"] = low;
  line["high"] = high;
  line["received_ns"] = now().monotonic_ns;
  emit(line);
}

// Prints the per-second lines from the start of LiStartConnection on; interrupts a pending
// connection on SIGINT/SIGTERM.
void tick(Session& s) {
  bool interrupted = false;
  for (int t = 1;; ++t) {
    const auto due =
        std::chrono::steady_clock::time_point(std::chrono::nanoseconds(s.start.monotonic_ns)) +
        std::chrono::seconds(t);
    std::unique_lock lock(s.mutex);
    while (!s.finished && std::chrono::steady_clock::now() < due) {
      s.changed.wait_for(lock, std::chrono::milliseconds(50));
      if (g_signalled && !s.connecting_done && !interrupted) {
        interrupted = true;
        spdlog::warn("signalled while connecting: interrupting the connection");
        LiInterruptConnection();
      }
    }
    if (s.finished) return;
    lock.unlock();
    Json line = s.stats.secondLine(t);
    line["type"] = "second";
    emit(line);
  }
}

// What the input thread did, for the summary.
struct InputReport {
  size_t performed = 0;
  size_t failed = 0;  // a LiSend* call refused it, a wait-file timed out, or a wait was cut
  int64_t started_ns = 0;
};

// The input thread: waits for the first decoded frame, then performs the script in order until
// it ends or the stream does.
void runInputScript(Session& s, const std::vector<InputAction>& script, InputReport& report) {
  const InputWait wait = [&s](std::chrono::nanoseconds d) {
    std::unique_lock lock(s.mutex);
    s.changed.wait_for(lock, d, [&] { return s.input_stop || s.terminated.has_value(); });
    return !s.input_stop && !s.terminated;
  };
  while (s.stats.decodedFrames() == 0)
    if (!wait(std::chrono::milliseconds(5))) return;
  report.started_ns = now().monotonic_ns;
  spdlog::info("input script: first frame decoded, {} actions", script.size());
  for (const InputAction& action : script) {
    {
      std::lock_guard lock(s.mutex);
      if (s.input_stop || s.terminated) break;
    }
    const Json line = performInputAction(action, wait);
    emit(line);
    ++report.performed;
    if (line["rc"] != 0) ++report.failed;
  }
  spdlog::info("input script: {} of {} actions performed, {} failed", report.performed,
               script.size(), report.failed);
}

int run(const Options& o) {
  Session session;
  g_session = &session;
  session.audio_wav = o.audio_wav;
  if (!o.audio_wav.empty()) session.stats.keepAudioPackets();
  if (o.picture_luma) session.stats.keepPictures();
  const Timestamps probe_start = now();
  Json summary;
  summary["type"] = "summary";
  summary["connected"] = false;
  summary["exit_code"] = kExitFailed;
  summary["error"] = nullptr;
  summary["terminated_error"] = nullptr;
  summary["stage_failed"] = nullptr;
  summary["start_realtime_ms"] = probe_start.realtime_ms;

  // Every key is present in every summary (null or empty when the run ended before it).
  auto finish = [&](int code) {
    if (!summary.contains("stages")) {
      for (const char* key : {"host", "app", "session_url", "launch_ms", "connect_ms"})
        if (!summary.contains(key)) summary[key] = nullptr;
      summary["stages"] = Json::array();
      summary["connection_poor_events"] = 0;
      summary["start_connection_error"] = nullptr;
      summary["video"] = nullptr;
      summary["streamed_s"] = 0.0;
      const Json stream = session.stats.summary(now());
      for (const auto& [key, value] : stream.items()) summary[key] = value;
      summary["audio"]["wav"] = nullptr;
      summary["fec"] = nullptr;
      summary["rtt_ms"] = nullptr;
      summary["proxy"] = nullptr;
    }
    summary["exit_code"] = code;
    summary["end_realtime_ms"] = now().realtime_ms;
    emit(summary);
    if (!o.report.empty()) {
      std::ofstream out(o.report);
      out << summary.dump() << "\n";
      if (!out) spdlog::error("--report: cannot write {}", o.report);
    }
    return code;
  };
  auto fail = [&](const std::string& message) {
    spdlog::error("{}", message);
    summary["error"] = message;
    return finish(kExitFailed);
  };

  // HTTP(S): serverinfo, applist, launch.
  auto identity = loadIdentity(o.keydir);
  if (!identity) return fail(identity.error().message);
  GamestreamHttp http(o.host, static_cast<uint16_t>(o.http_port), *identity);
  auto info = http.serverInfo();
  if (!info) return fail("serverinfo: " + info.error().message);
  summary["host"] = Json{{"appversion", info->app_version},
                         {"gfe_version", info->gfe_version},
                         {"https_port", info->https_port},
                         {"codec_mode_support", info->codec_mode_support},
                         {"current_game", info->current_game}};
  spdlog::info("host: appversion {}, GfeVersion {}, HttpsPort {}, ServerCodecModeSupport 0x{:x}",
               info->app_version, info->gfe_version, info->https_port, info->codec_mode_support);
  if (!info->paired)
    return fail("the host does not know this client (PairStatus 0 over HTTPS): pair first");
  auto apps = http.appList();
  if (!apps) return fail("applist: " + apps.error().message);
  std::optional<App> app;
  std::string titles;
  for (const App& a : *apps) {
    titles += (titles.empty() ? "" : ", ") + a.title;
    if (a.title == o.app && a.id > 0) app = a;
  }
  if (!app) return fail(fmt::format("no app titled '{}' (the host has: {})", o.app, titles));
  summary["app"] = Json{{"id", app->id}, {"title", app->title}};
  if (info->current_game != 0 && info->current_game != app->id)
    return fail(fmt::format("the host runs app {}, not {} ('{}'): quit it first",
                            info->current_game, app->id, app->title));

  STREAM_CONFIGURATION config;
  LiInitializeStreamConfiguration(&config);
  unsigned char rikey[16];
  unsigned char rikeyid_bytes[4];
  if (RAND_bytes(rikey, sizeof rikey) != 1 || RAND_bytes(rikeyid_bytes, 4) != 1)
    return fail("RAND_bytes failed");
  std::memcpy(config.remoteInputAesKey, rikey, 16);
  std::memcpy(config.remoteInputAesIv, rikeyid_bytes, 4);  // IV bytes 0..3 = BE rikeyid
  LaunchRequest launch;
  launch.app_id = app->id;
  launch.width = o.width;
  launch.height = o.height;
  launch.fps = o.fps;
  for (unsigned char b : rikey) launch.rikey_hex += fmt::format("{:02x}", b);
  launch.rikeyid =
      static_cast<int32_t>((uint32_t{rikeyid_bytes[0]} << 24) | (uint32_t{rikeyid_bytes[1]} << 16) |
                           (uint32_t{rikeyid_bytes[2]} << 8) | uint32_t{rikeyid_bytes[3]});
  const int audio_configuration = o.audio_channels == 8   ? AUDIO_CONFIGURATION_71_SURROUND
                                  : o.audio_channels == 6 ? AUDIO_CONFIGURATION_51_SURROUND
                                                          : AUDIO_CONFIGURATION_STEREO;
  launch.surround_audio_info = SURROUNDAUDIOINFO_FROM_AUDIO_CONFIGURATION(audio_configuration);
  launch.extra_query = LiGetLaunchUrlQueryParameters();
  launch.resume = info->current_game == app->id;
  auto launched = http.launch(launch);
  if (!launched)
    return fail(std::string(launch.resume ? "resume" : "launch") + ": " + launched.error().message);
  const uint16_t rtsp = rtspPort(launched->session_url);
  summary["session_url"] = launched->session_url;
  summary["launch_ms"] =
      std::round(static_cast<double>(now().monotonic_ns - probe_start.monotonic_ns) / 1e4) / 100;
  spdlog::info("{}: sessionUrl0 {} (RTSP port {})", launch.resume ? "resumed" : "launched",
               launched->session_url, rtsp);

  // The optional lossy proxy in front of the host's stream ports.
  std::unique_ptr<LossProxy> proxy;
  if (!o.proxy_address.empty()) {
    ProxyConfig pc;
    pc.listen_address = o.proxy_address;
    pc.target_address = o.host;
    pc.tcp_ports = {rtsp};
    const uint16_t base = static_cast<uint16_t>(o.http_port);
    pc.udp_ports = {static_cast<uint16_t>(base + 9), static_cast<uint16_t>(base + 10),
                    static_cast<uint16_t>(base + 11)};
    pc.video_port = static_cast<uint16_t>(base + 9);
    pc.drop_video_percent = o.drop_video_percent.value_or(0.0);
    auto started = LossProxy::start(pc);
    if (!started) return fail(started.error().message);
    proxy = std::move(*started);
    spdlog::info("proxy: {} -> {}: TCP {}, UDP {}/{}/{}, dropping {}% of video", o.proxy_address,
                 o.host, rtsp, base + 9, base + 10, base + 11, pc.drop_video_percent);
  }

  // The stream.
  SERVER_INFORMATION server;
  LiInitializeServerInformation(&server);
  const std::string address = o.proxy_address.empty() ? o.host : o.proxy_address;
  server.address = address.c_str();
  server.serverInfoAppVersion = info->app_version.c_str();
  server.serverInfoGfeVersion = info->gfe_version.c_str();
  server.rtspSessionUrl = launched->session_url.c_str();
  server.serverCodecModeSupport = info->codec_mode_support;
  config.width = o.width;
  config.height = o.height;
  config.fps = o.fps;
  config.bitrate = o.bitrate;
  config.packetSize = o.packet_size;
  config.streamingRemotely = STREAM_CFG_LOCAL;
  config.audioConfiguration = audio_configuration;
  config.supportedVideoFormats = o.codec == "hevc" ? VIDEO_FORMAT_H265 : VIDEO_FORMAT_H264;
  config.clientRefreshRateX100 = o.fps * 100;
  config.encryptionFlags = static_cast<int>(ENCFLG_ALL);
  CONNECTION_LISTENER_CALLBACKS listener;
  LiInitializeConnectionCallbacks(&listener);
  listener.stageStarting = stageStarting;
  listener.stageComplete = stageComplete;
  listener.stageFailed = stageFailed;
  listener.connectionStarted = connectionStarted;
  listener.connectionTerminated = connectionTerminated;
  listener.logMessage = logMessage;
  listener.connectionStatusUpdate = connectionStatusUpdate;
  listener.rumble = rumble;
  DECODER_RENDERER_CALLBACKS video;
  LiInitializeVideoCallbacks(&video);
  video.setup = videoSetup;
  video.cleanup = videoCleanup;
  video.submitDecodeUnit = submitDecodeUnit;
  video.capabilities = CAPABILITY_DIRECT_SUBMIT;
  AUDIO_RENDERER_CALLBACKS audio;
  LiInitializeAudioCallbacks(&audio);
  audio.init = audioInit;
  audio.decodeAndPlaySample = audioSample;
  audio.cleanup = audioCleanup;
  audio.capabilities = CAPABILITY_DIRECT_SUBMIT;

  session.start = now();
  session.stats.setStart(session.start);
  std::thread ticker([&] { tick(session); });
  auto stopTicker = [&] {
    {
      std::lock_guard lock(session.mutex);
      session.finished = true;
      session.changed.notify_all();
    }
    ticker.join();
  };
  spdlog::info("LiStartConnection to {} ({}x{} at {} fps, {} kbps, {}, packet size {})", address,
               o.width, o.height, o.fps, o.bitrate, o.codec, o.packet_size);
  const int started =
      LiStartConnection(&server, &config, &listener, &video, &audio, nullptr, 0, nullptr, 0);
  const Timestamps connected_at = now();
  {
    std::lock_guard lock(session.mutex);
    session.connecting_done = true;
  }
  summary["connect_ms"] =
      std::round(static_cast<double>(connected_at.monotonic_ns - session.start.monotonic_ns) /
                 1e4) /
      100;
  Json fec = nullptr;
  Json rtt = nullptr;
  if (started == 0) {
    summary["connected"] = true;
    // Stream until --seconds have passed, the host ends the stream, or a signal.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::microseconds(static_cast<int64_t>(o.seconds * 1e6));
    InputReport input;
    std::thread input_thread;
    if (o.input_script)
      input_thread = std::thread([&] { runInputScript(session, *o.input_script, input); });
    {
      std::unique_lock lock(session.mutex);
      while (!session.terminated && !g_signalled && std::chrono::steady_clock::now() < deadline)
        session.changed.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                                std::chrono::milliseconds(50)));
      session.input_stop = true;
      session.changed.notify_all();
    }
    if (input_thread.joinable()) {
      input_thread.join();
      summary["input"] = Json{{"actions", o.input_script->size()},
                              {"performed", input.performed},
                              {"failed", input.failed},
                              {"started_ns", input.started_ns}};
    }
    if (const RTP_VIDEO_STATS* v = LiGetRTPVideoStats(); v != nullptr)
      fec = Json{{"packets_video", v->packetCountVideo},    {"packets_fec", v->packetCountFec},
                 {"recovered", v->packetCountFecRecovered}, {"failed", v->packetCountFecFailed},
                 {"out_of_sequence", v->packetCountOOS},    {"invalid", v->packetCountInvalid},
                 {"fec_invalid", v->packetCountFecInvalid}};
    uint32_t rtt_ms = 0, variance_ms = 0;
    if (LiGetEstimatedRttInfo(&rtt_ms, &variance_ms))
      rtt = Json{{"rtt", rtt_ms}, {"variance", variance_ms}};
    LiStopConnection();
  } else {
    spdlog::error("LiStartConnection failed: {}", started);
  }
  const Timestamps end = now();
  stopTicker();
  const Json stream = session.stats.summary(end);

  {
    std::lock_guard lock(session.mutex);
    if (session.terminated) summary["terminated_error"] = *session.terminated;
    if (session.failed_stage)
      summary["stage_failed"] = Json{{"stage", session.failed_stage->stage},
                                     {"error", *session.failed_stage->error},
                                     {"ms", session.failed_stage->ms}};
    Json stages = Json::array();
    for (const StageRecord& r : session.stages) {
      Json one{{"stage", r.stage}, {"state", r.state}, {"ms", r.ms}};
      if (r.error) one["error"] = *r.error;
      stages.push_back(one);
    }
    summary["stages"] = stages;
    summary["connection_poor_events"] = session.poor_status;
  }
  summary["start_connection_error"] = started == 0 ? Json(nullptr) : Json(started);
  // What the host chose (the renderer's setup), null if the stream never got that far.
  summary["video"] = session.video_format == 0 ? Json(nullptr)
                                               : Json{{"format", session.video_format},
                                                      {"width", session.width},
                                                      {"height", session.height},
                                                      {"fps", session.redraw_rate}};
  summary["streamed_s"] =
      started == 0
          ? std::round(static_cast<double>(end.monotonic_ns - connected_at.monotonic_ns) / 1e7) /
                100
          : 0.0;
  for (const auto& [key, value] : stream.items()) summary[key] = value;
  // LiStopConnection cleaned the audio renderer up: the WAV file is complete.
  summary["audio"]["wav"] =
      session.audio_decoder && !o.audio_wav.empty() ? Json(o.audio_wav) : Json(nullptr);
  summary["rtt_ms"] = rtt;
  if (proxy) {
    const ProxyCounters c = proxy->counters();
    // Recovery as the proxy's drops show it (this library version counts no video FEC
    // recoveries itself: packetCountFecRecovered stays 0).
    if (fec.is_null()) fec = Json::object();
    const Json frames = session.stats.fecFrames(c.dropped_video_frames);
    for (const auto& [key, value] : frames.items()) fec[key] = value;
    summary["proxy"] = Json{{"address", o.proxy_address},
                            {"drop_video_percent", o.drop_video_percent.value_or(0.0)},
                            {"tcp_connections", c.tcp_connections},
                            {"tcp_connect_failures", c.tcp_connect_failures},
                            {"udp_to_host", c.udp_to_host},
                            {"udp_to_client", c.udp_to_client},
                            {"video_to_client", c.video_to_client},
                            {"video_dropped", c.video_dropped},
                            {"video_dropped_encrypted", c.dropped_encrypted},
                            {"video_dropped_unparsed", c.dropped_unparsed},
                            {"unforwarded_server_ports", c.unforwarded_server_ports}};
    proxy.reset();
  } else {
    summary["proxy"] = nullptr;
  }
  summary["fec"] = fec;
  if (o.quit) {
    auto cancelled = http.cancel();
    summary["quit"] = cancelled ? Json(true) : Json(cancelled.error().message);
  }
  std::optional<int> terminated;
  {
    std::lock_guard lock(session.mutex);
    terminated = session.terminated;
  }
  g_session = nullptr;
  return finish(started == 0 && !terminated ? kExitOk : kExitFailed);
}

}  // namespace
}  // namespace funkhaus::probe

int main(int argc, char** argv) {
  using namespace funkhaus::probe;
  // Log on stderr: stdout carries the JSON lines.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("probe"));
  spdlog::set_pattern("%H:%M:%S.%e [%^%l%$] %v");
  auto options = parseOptions(argc, argv);
  if (!options) {
    std::fprintf(stderr, "gamestream_probe: %s\n\n%s", options.error().message.c_str(), kUsage);
    return kExitUsage;
  }
  if (options->help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  struct sigaction action {};
  action.sa_handler = onSignal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return run(*options);
}
