// The audio worker: options, the state file, and the stage on the one worker runtime that records
// the funkhaus sink's monitor into Opus packets in the audio ring, riding out a lost sound server.
#include "funkhaus/audio/audio_worker.h"

#include <fcntl.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "funkhaus/abi/codec.h"
#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/audio/pulse_capture.h"
#include "funkhaus/audio/sync_click.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/common/worker_runtime.h"

namespace funkhaus::audio {

int defaultBitrate(int channels) {
  return channels >= 8 ? 450'000 : channels >= 6 ? 256'000 : 96'000;
}

int nearestChannels(int channels) {
  if (channels <= 3) return 2;  // 1 and 3 are nearest to 2; 0 is the caller's business
  if (channels <= 6) return 6;  // 4 is as near to 2 as to 6: a tie goes up
  return 8;
}

int nearestFrameMs(int ms) { return ms <= 7 ? 5 : 10; }  // 20 (the ABI allows it): 10

OpusConfig encoderConfig(const AudioOptions& options, int channels, int frame_ms) {
  OpusConfig config{
      .channels = channels, .bitrate_bps = defaultBitrate(channels), .frame_ms = frame_ms};
  if (options.bitrate_bps) {
    OpusConfig asked = config;
    asked.bitrate_bps = *options.bitrate_bps;
    if (validate(asked)) return asked;
    spdlog::warn("audio: --bitrate {} does not suit {} channels at {} ms; {} b/s instead",
                 *options.bitrate_bps, channels, frame_ms, config.bitrate_bps);
  }
  return config;
}

Result<AudioOptions> parseAudioOptions(int argc, const char* const* argv, bool* help,
                                       const std::function<const char*(const char*)>& env) {
  if (help != nullptr) *help = false;
  AudioOptions options;
  CLI::App app{
      "funkhaus-audio: records the session's sound (the `funkhaus` sink of the sound server at "
      "$PULSE_SERVER, else $XDG_RUNTIME_DIR/pulse/native) into Opus packets in the audio ring "
      "funkhausd hands over on fd 3, and makes that sink the default while somebody listens."};
  int bitrate = 0;
  std::string source = "pulse";
  app.add_option("--source", source,
                 "pulse (default: the session's sound server) or sync (the A/V sync pattern: "
                 "silence with a 5 ms 1 kHz click at each multiple of --sync-click-ms on "
                 "CLOCK_MONOTONIC; no sound server)")
      ->check(CLI::IsMember({"pulse", "sync"}));
  auto* click_option = app.add_option("--sync-click-ms", options.sync_click_ms,
                                      "with --source sync: the click's period in ms (default 1000)")
                           ->check(CLI::Range(10u, 3'600'000u));
  app.add_option("--channels", options.channels, "2 (default), 6 (5.1) or 8 (7.1)")
      ->check(CLI::IsMember({2, 6, 8}));
  auto* bitrate_option = app.add_option(
      "--bitrate", bitrate,
      "bits per second of the whole stream (CBR; default 96000 stereo, 256000 5.1, 450000 7.1)");
  app.add_option("--frame-ms", options.frame_ms, "packet duration in ms: 5 (default) or 10")
      ->check(CLI::IsMember({5, 10}));
  app.add_option("--state-file", options.state_file,
                 "where the default sink before ours is kept for a successor (default: "
                 "$XDG_RUNTIME_DIR/funkhaus/audio-default-sink)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    if (help != nullptr) *help = true;
    return makeError(ErrorCode::kBadConfig, "{}", app.help());
  } catch (const CLI::ParseError& e) {
    return makeError(ErrorCode::kBadConfig, "{} (see --help)", e.what());
  }
  if (bitrate_option->count() != 0) options.bitrate_bps = bitrate;
  options.source = source == "sync" ? AudioSource::kSync : AudioSource::kPulse;
  if (click_option->count() != 0 && options.source != AudioSource::kSync)
    return makeError(ErrorCode::kBadConfig, "--sync-click-ms needs --source sync");
  OpusConfig config{.channels = options.channels,
                    .bitrate_bps = options.bitrate_bps.value_or(defaultBitrate(options.channels)),
                    .frame_ms = options.frame_ms};
  if (auto valid = validate(config); !valid) {
    return makeError(ErrorCode::kBadConfig, "--bitrate: {}", valid.error().message);
  }
  if (options.state_file.empty()) {
    if (const char* runtime = env("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime != '\0') {
      options.state_file = std::string(runtime) + "/funkhaus/audio-default-sink";
      options.state_file_defaulted = true;
    }
  }
  return options;
}

Result<DefaultSinkRecord> loadDefaultSinkRecord(const std::string& path) {
  DefaultSinkRecord record;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return record;
    return makeError("cannot open {}: {}", path, std::strerror(errno));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return makeError("cannot stat {}: {}", path, std::strerror(errno));
  if (st.st_size != static_cast<off_t>(sizeof record)) {
    return makeError("{} has {} bytes, not the {} of a record", path, st.st_size, sizeof record);
  }
  const ssize_t got = pread(fd.get(), &record, sizeof record, 0);
  if (got != static_cast<ssize_t>(sizeof record)) {
    return makeError("cannot read {}: {}", path, got < 0 ? std::strerror(errno) : "short read");
  }
  // Untrusted bytes: the flag is 0 or 1, the name stays NUL-terminated (previousName() bounds).
  record.switched = record.switched != 0 ? 1 : 0;
  record.reserved = 0;
  record.previous[DefaultSinkRecord::kNameBytes - 1] = '\0';
  return record;
}

Result<void> saveDefaultSinkRecord(const std::string& path, const DefaultSinkRecord& record) {
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash != 0) {
    const std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return makeError("cannot make {}: {}", dir, std::strerror(errno));
    }
  }
  const std::string temp = fmt::format("{}.{}.tmp", path, getpid());
  UniqueFd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return makeError("cannot create {}: {}", temp, std::strerror(errno));
  const ssize_t wrote = write(fd.get(), &record, sizeof record);
  if (wrote != static_cast<ssize_t>(sizeof record) || fsync(fd.get()) != 0) {
    const std::string why = wrote < 0 ? std::strerror(errno) : "short write";
    unlink(temp.c_str());
    return makeError("cannot write {}: {}", temp, why);
  }
  fd.reset();
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    unlink(temp.c_str());
    return makeError("cannot rename {} to {}: {}", temp, path, why);
  }
  return {};
}

namespace {

// Retries after the sound server went away or was not there: 250 ms, doubling, at most 8 s.
constexpr uint64_t kFirstRetryNs = 250'000'000;
constexpr uint64_t kMaxRetryNs = 8'000'000'000;
// Each request to the sound server waits at most this long: well below funkhausd's heartbeat
// timeout (1 s), so a hung server costs a retry, never the worker.
constexpr int kOperationTimeoutMs = 400;
// How long a removed sink may take to go before it is made again with other channels.
constexpr uint64_t kSinkRemakeTimeoutNs = 500'000'000;
// Recoverable errors in the packet path are logged at most this often (counted every time).
constexpr uint64_t kErrorLogIntervalNs = 1'000'000'000;

void setupLogging() {
  auto logger = spdlog::stderr_logger_mt("funkhaus-audio");
  logger->set_pattern("%l: %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
}

// funkhaus-audio on the worker runtime. start() attaches the audio ring and reads the state
// file; a step either waits for the next connection attempt or runs the sound server's main loop
// for its budget and turns the frames captured meanwhile into packets (pushed only while
// somebody listens). Losing the server is never fatal: the stage drops the connection, shows
// kReady and counts an error, and tries again with backoff.
class AudioStage final : public WorkerStage {
 public:
  AudioStage(AudioOptions options, std::string server)
      : options_(std::move(options)),
        server_(std::move(server)),
        channels_(options_.channels),
        frame_ms_(options_.frame_ms) {}

  Result<void> start(WorkerContext& context) override {
    context_ = &context;
    auto ring = context.ring(abi::FdRole::kRingOut, abi::RingId::kAudioPackets);
    if (!ring) return ring.error();
    auto producer = PacketProducer::attach(std::move(*ring));
    if (!producer)
      return makeError(ErrorCode::kAttachFailed, "audio ring: {}", producer.error().message);
    producer_.emplace(std::move(*producer));
    if (options_.state_file.empty()) {
      spdlog::warn(
          "audio: no state file (XDG_RUNTIME_DIR is unset and no --state-file): a successor of "
          "a crashed worker will not know the default sink to restore");
    } else if (auto record = loadDefaultSinkRecord(options_.state_file); !record) {
      ++errors_;
      spdlog::warn("audio: state file: {} (starting without it)", record.error().message);
    } else {
      record_ = *record;
      if (record_.switched != 0)
        spdlog::info(
            "audio: {} says a predecessor left our sink the default (before: {}); "
            "restoring that once connected",
            options_.state_file, record_.previousName());
    }
    spdlog::info("audio: sound server {}, {} channels, {} ms packets, state file {}", server_,
                 channels_, frame_ms_,
                 options_.state_file.empty() ? "(none)" : options_.state_file);
    next_attempt_ns_ = monotonicNs();
    return {};
  }

  Result<void> step(int64_t budget_ns) override {
    const uint64_t now = monotonicNs();
    const uint64_t budget = static_cast<uint64_t>(std::max<int64_t>(budget_ns, 1'000'000));
    if (options_.source == AudioSource::kSync) return stepSync(now, budget);
    if (!session_) {
      if (now < next_attempt_ns_) {
        sleepUntilNs(std::min(next_attempt_ns_, now + budget));
        return {};
      }
      if (auto up = bringUp(); !up) lose(up.error());
      return {};
    }
    auto handled = session_->iterate(static_cast<int64_t>(budget));
    if (handled) handled = drain();
    if (!handled) lose(handled.error());
    return {};
  }

  void onCommand(const abi::CommandBody& command) override {
    if (static_cast<abi::Command>(command.command) != abi::Command::kSetAudio) {
      spdlog::info("audio: command {} is not for this worker", command.command);
      return;
    }
    const uint64_t arg = command.arg;
    if (!abi::audioRequested(arg)) {
      spdlog::info("audio: nobody listens");
      listening_ = false;
      if (session_) {
        if (auto restored = restore("nobody listens"); !restored) lose(restored.error());
      }
      return;
    }
    const int asked_channels = static_cast<int>(abi::audioRequestChannels(arg));
    const int asked_ms = static_cast<int>(abi::audioRequestPacketMs(arg));
    const int channels = asked_channels == 0 ? options_.channels : nearestChannels(asked_channels);
    const int frame_ms = asked_ms == 0 ? options_.frame_ms : nearestFrameMs(asked_ms);
    if ((asked_channels != 0 && channels != asked_channels) ||
        (asked_ms != 0 && frame_ms != asked_ms))
      spdlog::warn("audio: asked for {} channels at {} ms; nearest supported: {} at {} ms",
                   asked_channels, asked_ms, channels, frame_ms);
    spdlog::info("audio: somebody listens: {} channels, {} ms packets", channels, frame_ms);
    const bool changed = channels != channels_ || frame_ms != frame_ms_;
    channels_ = channels;
    frame_ms_ = frame_ms;
    listening_ = true;
    pending_discontinuity_ = true;
    if (changed) sync_.reset();  // the sync source starts again with the new settings
    if (!session_) return;       // applied when the server is there
    Result<void> applied;
    if (changed) applied = startCapture();
    if (applied) applied = switchDefault();
    if (!applied) lose(applied.error());
  }

  void publish(abi::WorkerStatusPage& page, uint64_t now_ns) override {
    uint64_t assembler_drops = retired_assembler_drops_;
    if (capture_) assembler_drops += capture_->stats().assembler.dropped_frames;
    abi::storeRelaxed(page.frames_in, frames_in_);
    abi::storeRelaxed(page.frames_out, frames_out_);
    abi::storeRelaxed(page.bytes_out, bytes_out_);
    abi::storeRelaxed(page.drops, ring_drops_ + assembler_drops);
    abi::storeRelaxed(page.errors, errors_ + context_->channelErrors());
    stats_.publish(page, now_ns);
  }

  void stop() override {
    if (session_ && record_.switched != 0) {
      if (auto restored = restore("stopping"); !restored)
        spdlog::warn("audio: stopping: the default sink was not restored: {}",
                     restored.error().message);
    } else if (record_.switched != 0) {
      spdlog::warn(
          "audio: stopping without the sound server: the default sink stays switched "
          "(the state file tells a successor)");
    }
    spdlog::info(
        "audio: stopping: {} frames captured, {} packets pushed ({} bytes), {} ring drops, {} "
        "errors, {} connections",
        frames_in_, frames_out_, bytes_out_, ring_drops_, errors_, connections_);
    retireCapture();
    session_.reset();
  }

 private:
  // Connects and starts recording; restores a predecessor's switch first, then switches the
  // default when somebody listens.
  Result<void> bringUp() {
    auto session =
        PulseSession::connect({.server = server_, .operation_timeout_ms = kOperationTimeoutMs});
    context_->heartbeat();
    if (!session) return session.error();
    session_ = std::move(*session);
    ++connections_;
    // A switch left by a crashed predecessor is undone first; one left by our own lost
    // connection is undone when nobody listens any more.
    if (record_.switched != 0 && (connections_ == 1 || !listening_)) {
      if (auto restored = restore(connections_ == 1 ? "a predecessor's switch" : "reconnected");
          !restored)
        return restored;
    }
    if (auto started = startCapture(); !started) return started;
    if (listening_) {
      if (auto switched = switchDefault(); !switched) return switched;
    }
    backoff_ns_ = kFirstRetryNs;
    failed_attempts_ = 0;
    pending_discontinuity_ = true;
    context_->setState(abi::WorkerState::kRunning);
    return {};
  }

  // (Re)starts the capture and the encoder at channels_ and frame_ms_. The sink is made again
  // when it has another channel count (a predecessor's, or ours before a request changed it).
  Result<void> startCapture() {
    retireCapture();
    auto sink = session_->ensureSink(channels_);
    context_->heartbeat();
    if (!sink) return sink.error();
    if (sink->channels != channels_) {
      spdlog::info("audio: sink {} has {} channels, {} wanted: making it again", sink->name,
                   sink->channels, channels_);
      if (auto removed = session_->removeSink(); !removed) return removed;
      // The server unloads the module a moment after it acknowledged that: until then a lookup
      // still finds the old sink (reusing it would have our stream killed with it).
      const uint64_t give_up = monotonicNs() + kSinkRemakeTimeoutNs;
      for (;;) {
        sink = session_->ensureSink(channels_);
        context_->heartbeat();
        if (!sink) return sink.error();
        if (sink->channels == channels_) break;
        if (monotonicNs() >= give_up)
          return makeError("sink {} still has {} channels after it was removed", sink->name,
                           sink->channels);
        if (auto waited = session_->iterate(10'000'000); !waited) return waited;
      }
      // The server moved the default away from the sink that went; ours again, keeping the
      // recorded previous default.
      if (record_.switched != 0 && listening_) {
        if (auto set = session_->setDefaultSink(sink->name); !set) return set;
      }
    }
    auto encoder = OpusStreamEncoder::create(encoderConfig(options_, channels_, frame_ms_));
    if (!encoder) return encoder.error();
    auto capture = PulseCapture::start(
        *session_, *sink,
        {.channels = channels_, .frame_samples = frame_ms_ * kSampleRate / 1000, .fragment_ms = 5});
    context_->heartbeat();
    if (!capture) return capture.error();
    encoder_.emplace(std::move(*encoder));
    capture_ = std::move(*capture);
    packet_.resize(static_cast<size_t>(encoder_->packetBytes()));
    format_ = abi::opusFormat(static_cast<uint32_t>(channels_),
                              static_cast<uint32_t>(encoder_->frameSamples()));
    pending_discontinuity_ = true;
    spdlog::info("audio: recording {} into {} channels, {} ms packets of {} bytes ({} b/s)",
                 sink->monitor, channels_, frame_ms_, encoder_->packetBytes(),
                 encoder_->config().bitrate_bps);
    return {};
  }

  Result<void> switchDefault() {
    if (auto made = session_->makeDefault(record_); !made) return made;
    save();
    return {};
  }

  Result<void> restore(const char* why) {
    if (record_.switched == 0) return {};
    auto outcome = session_->restoreDefault(record_);
    if (!outcome) return outcome.error();
    spdlog::info("audio: {}: default sink restore: {}", why, toString(*outcome));
    save();
    return {};
  }

  void save() {
    if (options_.state_file.empty()) return;
    if (auto saved = saveDefaultSinkRecord(options_.state_file, record_); !saved) {
      ++errors_;
      spdlog::warn("audio: state file: {}", saved.error().message);
    }
  }

  // Encodes what was captured; pushes it while somebody listens.
  Result<void> drain() {
    for (;;) {
      auto frame = capture_->next();
      if (!frame) return frame.error();
      if (*frame == nullptr) return {};
      const CapturedFrame& f = **frame;
      ++frames_in_;
      if (f.discontinuity) pending_discontinuity_ = true;
      if (!listening_) continue;  // recorded (the sink's clock runs on), not encoded
      encodeAndPush(std::span<const float>(f.samples), f.capture_ns);
    }
  }

  // The sync source: no sound server; each frame is made when the clock has passed its end,
  // and encoded and pushed while somebody listens.
  Result<void> stepSync(uint64_t now, uint64_t budget) {
    if (!sync_) {
      auto encoder = OpusStreamEncoder::create(encoderConfig(options_, channels_, frame_ms_));
      if (!encoder) return makeError(ErrorCode::kBadConfig, "{}", encoder.error().message);
      encoder_.emplace(std::move(*encoder));
      packet_.resize(static_cast<size_t>(encoder_->packetBytes()));
      format_ = abi::opusFormat(static_cast<uint32_t>(channels_),
                                static_cast<uint32_t>(encoder_->frameSamples()));
      sync_.emplace(options_.sync_click_ms, channels_, encoder_->frameSamples(), now);
      sync_samples_.assign(static_cast<size_t>(encoder_->frameSamples() * channels_), 0.0f);
      pending_discontinuity_ = true;
      context_->setState(abi::WorkerState::kRunning);
      spdlog::info("audio: sync click every {} ms, {} channels, {} ms packets ({} b/s)",
                   options_.sync_click_ms, channels_, frame_ms_, encoder_->config().bitrate_bps);
    }
    if (now < sync_->nextReadyNs()) {
      sleepUntilNs(std::min(sync_->nextReadyNs(), now + budget));
      now = monotonicNs();
    }
    SyncClickSource::Frame frame;
    while (sync_->next(now, sync_samples_, &frame)) {
      ++frames_in_;
      if (frame.discontinuity) pending_discontinuity_ = true;
      if (listening_) encodeAndPush(sync_samples_, frame.capture_ns);
    }
    return {};
  }

  // Encodes one frame captured at `captured_ns` and pushes its packet into the ring.
  void encodeAndPush(std::span<const float> samples, uint64_t captured_ns) {
    auto bytes = encoder_->encode(samples, packet_);
    if (!bytes) {
      noteError(bytes.error());
      pending_discontinuity_ = true;
      return;
    }
    // Timestamps never go backwards, even when the capture re-anchored its clock.
    const uint64_t capture_ns = std::max(captured_ns, last_capture_ns_ + 1);
    last_capture_ns_ = capture_ns;
    PacketMeta meta;
    meta.frame_number = sequence_++;
    meta.capture_time_ns = capture_ns;
    meta.flags = pending_discontinuity_ ? abi::kRecordFlagDiscontinuity : 0;
    meta.codec = static_cast<uint32_t>(abi::Codec::kOpus);
    meta.format = format_;
    const auto pushed =
        producer_->push(meta, std::as_bytes(std::span<const uint8_t>(packet_.data(), *bytes)));
    if (pushed == PacketProducer::PushResult::kCommitted) {
      ++frames_out_;
      bytes_out_ += *bytes;
      pending_discontinuity_ = false;
      stats_.onFrame(capture_ns, monotonicNs());
    } else {
      ++ring_drops_;  // the ring flags the next record itself
    }
  }

  void noteError(const Error& error) {
    ++errors_;
    const uint64_t now = monotonicNs();
    if (now >= next_error_log_ns_) {
      next_error_log_ns_ = now + kErrorLogIntervalNs;
      spdlog::warn("audio: {} (errors so far: {})", error.message, errors_);
    }
  }

  // Drops the connection after an error and schedules the next attempt.
  void lose(const Error& error) {
    ++errors_;
    ++failed_attempts_;
    retireCapture();
    encoder_.reset();
    session_.reset();
    pending_discontinuity_ = true;
    context_->setState(abi::WorkerState::kReady);
    next_attempt_ns_ = monotonicNs() + backoff_ns_;
    // Every loss is logged, and every failed attempt up to the longest backoff; then one in 8.
    if (failed_attempts_ <= 6 || failed_attempts_ % 8 == 0)
      spdlog::warn("audio: {} (attempt {} failed; next in {} ms)", error.message, failed_attempts_,
                   backoff_ns_ / 1'000'000);
    backoff_ns_ = std::min(backoff_ns_ * 2, kMaxRetryNs);
  }

  void retireCapture() {
    if (!capture_) return;
    retired_assembler_drops_ += capture_->stats().assembler.dropped_frames;
    capture_.reset();
  }

  AudioOptions options_;
  std::string server_;
  WorkerContext* context_ = nullptr;
  std::optional<PacketProducer> producer_;
  DefaultSinkRecord record_;

  // What runs (or will, once connected): the configured values until a request changes them.
  int channels_;
  int frame_ms_;
  bool listening_ = false;

  std::unique_ptr<PulseSession> session_;
  std::unique_ptr<PulseCapture> capture_;
  std::optional<OpusStreamEncoder> encoder_;
  std::optional<SyncClickSource> sync_;  // --source sync: made at the first step
  std::vector<float> sync_samples_;
  std::vector<uint8_t> packet_;
  uint32_t format_ = 0;

  uint64_t next_attempt_ns_ = 0;
  uint64_t backoff_ns_ = kFirstRetryNs;
  uint64_t failed_attempts_ = 0;
  uint64_t connections_ = 0;

  uint64_t sequence_ = 0;
  uint64_t last_capture_ns_ = 0;
  bool pending_discontinuity_ = true;
  uint64_t frames_in_ = 0, frames_out_ = 0, bytes_out_ = 0, ring_drops_ = 0, errors_ = 0;
  uint64_t retired_assembler_drops_ = 0;
  uint64_t next_error_log_ns_ = 0;
  StageStats stats_;
};

}  // namespace

int runAudioWorker(int argc, const char* const* argv) {
  bool help = false;
  auto options = parseAudioOptions(argc, argv, &help);
  if (!options) {
    std::fprintf(help ? stdout : stderr, "%s%s\n",
                 help ? "" : "funkhaus-audio: ", options.error().message.c_str());
    return help ? abi::kExitStopped : abi::kExitBadConfig;
  }
  setupLogging();
  Result<std::string> server = std::string("(none: the sync click)");
  if (options->source == AudioSource::kPulse) server = defaultServerAddress();
  if (!server) {
    spdlog::error("audio: {}", server.error().message);
    return abi::kExitBadConfig;
  }
  AudioStage stage(std::move(*options), std::move(*server));
  RuntimeOptions runtime;
  runtime.kind = abi::WorkerKind::kAudio;
  runtime.name = "audio";
  return runWorker(stage, runtime);
}

}  // namespace funkhaus::audio
