// The funkhaus-audio worker: command line, the state file that survives a crash, the choice of
// supported settings for a request, and the stage on the worker runtime that produces the audio
// ring. Runs as its own process (main.cpp), started by funkhausd with the channel at fd 3.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "funkhaus/audio/opus_stream_encoder.h"
#include "funkhaus/audio/pulse_session.h"
#include "funkhaus/common/result.h"

namespace funkhaus::audio {

// Where the sound comes from: the session's sound server, or the A/V sync click (sync_click.h),
// which needs no sound server.
enum class AudioSource { kPulse, kSync };

struct AudioOptions {
  AudioSource source = AudioSource::kPulse;
  uint32_t sync_click_ms = 1000;      // kSync: a click at each multiple of this on CLOCK_MONOTONIC
  int channels = 2;                   // 2, 6 or 8
  std::optional<int> bitrate_bps;     // unset: defaultBitrate(channels)
  int frame_ms = 5;                   // 5 or 10
  std::string state_file;             // empty: no persistence (warned at start)
  bool state_file_defaulted = false;  // state_file came from $XDG_RUNTIME_DIR
};

// The bitrate used when none is given: 96 kb/s stereo, 256 kb/s 5.1, 450 kb/s 7.1.
int defaultBitrate(int channels);
// The supported value nearest to what a request asked for: channels 2/6/8 (a tie goes up, more
// than 8 is 8), packet duration 5/10 ms (more than 10 is 10).
int nearestChannels(int channels);
int nearestFrameMs(int ms);
// The encoder configuration for `channels` and `frame_ms`: the --bitrate when it suits them
// (validate()), else defaultBitrate(channels).
OpusConfig encoderConfig(const AudioOptions& options, int channels, int frame_ms);

// Parses --source, --sync-click-ms, --channels, --bitrate, --frame-ms and --state-file; the default
// state file is $XDG_RUNTIME_DIR/funkhaus/audio-default-sink (none when XDG_RUNTIME_DIR is unset).
// An error carries the message for stderr (exit kExitBadConfig); `--help` is reported as an error
// whose message is the help text, with *help set.
Result<AudioOptions> parseAudioOptions(
    int argc, const char* const* argv, bool* help = nullptr,
    const std::function<const char*(const char*)>& env = [](const char* name) {
      return static_cast<const char*>(std::getenv(name));
    });

// The DefaultSinkRecord as a file: read (a missing file is an empty record; a file of another
// size is an error) and written atomically (a temp file in the same directory, fsync, rename),
// the directory made (0700) when missing.
Result<DefaultSinkRecord> loadDefaultSinkRecord(const std::string& path);
Result<void> saveDefaultSinkRecord(const std::string& path, const DefaultSinkRecord& record);

// Runs the worker on the worker runtime: attaches the audio ring, then connects to the sound
// server (again and again, with backoff, while it is not there), records the funkhaus sink's
// monitor and pushes Opus packets while somebody listens (kSetAudio). With --source sync, the
// packets are the sync click's, paced by the clock, and no sound server is used. Returns the
// exit code.
int runAudioWorker(int argc, const char* const* argv);

}  // namespace funkhaus::audio
