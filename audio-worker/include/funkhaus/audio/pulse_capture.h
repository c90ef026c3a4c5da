// PulseCapture: records a source (our sink's monitor) at 48 kHz float with the configured
// channel count and a small fragment size, and hands out frames of exactly N samples with their
// CLOCK_MONOTONIC capture time. Runs on the audio worker's thread, inside PulseSession::iterate().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "funkhaus/audio/frame_assembler.h"
#include "funkhaus/audio/pulse_session.h"
#include "funkhaus/common/result.h"

struct pa_stream;

namespace funkhaus::audio {

struct CaptureConfig {
  int channels = 2;         // 2, 6 or 8: FL FR (C LFE BL BR (SL SR)), the client's order
  int frame_samples = 240;  // per channel: 240 (5 ms) or 480 (10 ms)
  int fragment_ms = 5;      // how often the server sends: the latency we ask for
  size_t max_queued_frames = 32;
};

struct CaptureStats {
  AssemblerStats assembler;
  uint64_t chunks = 0;     // chunks read from the server
  uint64_t overflows = 0;  // the server dropped data we did not read in time
  uint64_t untimed = 0;    // chunks without timing info (stamped from the sample clock)
  int64_t latency_us = 0;  // the last measured age of the data read (pa_stream_get_latency)
};

class PulseCapture {
 public:
  // Records our sink's monitor: connects a record stream, waits until it runs, then restarts the
  // sink's clock (PulseSession::restartSinkClock) so data flows at once at the asked latency.
  static Result<std::unique_ptr<PulseCapture>> start(PulseSession& session, const SinkInfo& sink,
                                                     const CaptureConfig& config);
  ~PulseCapture();
  PulseCapture(const PulseCapture&) = delete;
  PulseCapture& operator=(const PulseCapture&) = delete;

  // The next whole frame (valid until the next call), nullptr when none is waiting yet. An
  // error (kPeerLost) once the stream or the server failed. Call after PulseSession::iterate().
  Result<const CapturedFrame*> next();
  const CaptureStats& stats() const { return stats_; }
  const CaptureConfig& config() const { return config_; }

 private:
  PulseCapture(PulseSession& session, const CaptureConfig& config);
  static void onState(pa_stream* stream, void* self);
  static void onRead(pa_stream* stream, size_t bytes, void* self);
  static void onOverflow(pa_stream* stream, void* self);
  void read();

  PulseSession& session_;
  CaptureConfig config_;
  FrameAssembler assembler_;
  pa_stream* stream_ = nullptr;
  CaptureStats stats_;
  std::optional<Error> failure_;
};

}  // namespace funkhaus::audio
