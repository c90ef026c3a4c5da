// PulseCapture: a low-latency record stream, its chunks cut into timed frames.
#include "funkhaus/audio/pulse_capture.h"

#include <pulse/context.h>
#include <pulse/error.h>
#include <pulse/stream.h>
#include <spdlog/spdlog.h>

#include "funkhaus/audio/opus_stream_encoder.h"
#include "funkhaus/common/clock.h"
#include "pulse_channels.h"

namespace funkhaus::audio {

PulseCapture::PulseCapture(PulseSession& session, const CaptureConfig& config)
    : session_(session),
      config_(config),
      assembler_(config.channels, config.frame_samples, kSampleRate, config.max_queued_frames) {}

Result<std::unique_ptr<PulseCapture>> PulseCapture::start(PulseSession& session,
                                                          const SinkInfo& sink,
                                                          const CaptureConfig& config) {
  const std::string& source = sink.monitor;
  auto map = detail::clientChannelMap(config.channels);
  if (!map) return map.error();
  if (config.frame_samples <= 0 || config.frame_samples > kSampleRate || config.fragment_ms <= 0) {
    return makeError(ErrorCode::kBadConfig, "bad capture frame ({} samples) or fragment ({} ms)",
                     config.frame_samples, config.fragment_ms);
  }
  if (auto healthy = session.health(); !healthy) return healthy.error();
  std::unique_ptr<PulseCapture> capture(new PulseCapture(session, config));
  const pa_sample_spec spec{PA_SAMPLE_FLOAT32NE, kSampleRate,
                            static_cast<uint8_t>(config.channels)};
  capture->stream_ = pa_stream_new(session.context(), "funkhaus capture", &spec, &*map);
  if (capture->stream_ == nullptr) {
    return makeError("pa_stream_new: {}", session.lastError());
  }
  pa_stream_set_state_callback(capture->stream_, &PulseCapture::onState, capture.get());
  pa_stream_set_read_callback(capture->stream_, &PulseCapture::onRead, capture.get());
  pa_stream_set_overflow_callback(capture->stream_, &PulseCapture::onOverflow, capture.get());

  // fragsize is how much the server collects before it sends: the latency we ask for. With
  // ADJUST_LATENCY the source's own latency is set to match. maxlength bounds what piles up
  // in the server when we fall behind (it then drops the oldest: an overflow).
  const uint32_t frame_bytes = pa_frame_size(&spec);
  pa_buffer_attr attr{};
  attr.maxlength = frame_bytes * static_cast<uint32_t>(kSampleRate / 5);  // 200 ms
  attr.fragsize = frame_bytes * static_cast<uint32_t>(kSampleRate * config.fragment_ms / 1000);
  attr.tlength = attr.prebuf = attr.minreq = static_cast<uint32_t>(-1);
  const auto flags =
      static_cast<pa_stream_flags_t>(PA_STREAM_ADJUST_LATENCY | PA_STREAM_AUTO_TIMING_UPDATE |
                                     PA_STREAM_INTERPOLATE_TIMING | PA_STREAM_DONT_MOVE);
  if (pa_stream_connect_record(capture->stream_, source.c_str(), &attr, flags) < 0) {
    return makeError("cannot record {}: {}", source, session.lastError());
  }
  PulseCapture* self = capture.get();
  auto ready = session.waitUntil(
      [self] {
        return self->failure_.has_value() || pa_stream_get_state(self->stream_) == PA_STREAM_READY;
      },
      "a record stream");
  if (!ready) return ready.error();
  if (capture->failure_) return *capture->failure_;
  if (auto restarted = session.restartSinkClock(); !restarted) return restarted.error();
  const pa_buffer_attr* got = pa_stream_get_buffer_attr(capture->stream_);
  spdlog::info("audio: recording {} ({} channels, fragment {} bytes = {} us, {} samples/frame)",
               source, config.channels, got != nullptr ? got->fragsize : 0,
               got != nullptr ? pa_bytes_to_usec(got->fragsize, &spec) : 0, config.frame_samples);
  return capture;
}

PulseCapture::~PulseCapture() {
  if (stream_ == nullptr) return;
  pa_stream_set_state_callback(stream_, nullptr, nullptr);
  pa_stream_set_read_callback(stream_, nullptr, nullptr);
  pa_stream_set_overflow_callback(stream_, nullptr, nullptr);
  if (pa_stream_get_state(stream_) == PA_STREAM_READY) pa_stream_disconnect(stream_);
  pa_stream_unref(stream_);
}

void PulseCapture::onState(pa_stream* stream, void* user) {
  auto* self = static_cast<PulseCapture*>(user);
  const pa_stream_state_t state = pa_stream_get_state(stream);
  if ((state == PA_STREAM_FAILED || state == PA_STREAM_TERMINATED) && !self->failure_) {
    if (auto healthy = self->session_.health(); !healthy) {
      self->failure_ = healthy.error();
    } else {
      self->failure_ = makeError(ErrorCode::kPeerLost, "the record stream {}: {}",
                                 state == PA_STREAM_FAILED ? "failed" : "was ended by the server",
                                 self->session_.lastError());
    }
  }
}

void PulseCapture::onRead(pa_stream*, size_t, void* user) {
  static_cast<PulseCapture*>(user)->read();
}

void PulseCapture::onOverflow(pa_stream*, void* user) {
  ++static_cast<PulseCapture*>(user)->stats_.overflows;
}

void PulseCapture::read() {
  const size_t frame_bytes = sizeof(float) * static_cast<size_t>(config_.channels);
  while (pa_stream_readable_size(stream_) > 0) {
    const void* data = nullptr;
    size_t bytes = 0;
    if (pa_stream_peek(stream_, &data, &bytes) < 0) {
      failure_ =
          makeError(ErrorCode::kPeerLost, "reading the record stream: {}", session_.lastError());
      return;
    }
    if (bytes == 0) break;  // nothing after all
    // The age of the first byte of this chunk (pa_stream_get_latency for a record stream is
    // the stream time minus the read index, which moves only at pa_stream_drop()).
    const uint64_t now = monotonicNs();
    pa_usec_t latency = 0;
    int negative = 0;
    uint64_t first_ns = 0;
    const bool timed = pa_stream_get_latency(stream_, &latency, &negative) == 0;
    if (timed) {
      stats_.latency_us =
          negative != 0 ? -static_cast<int64_t>(latency) : static_cast<int64_t>(latency);
      first_ns = now - static_cast<uint64_t>(stats_.latency_us * 1000);
    } else {
      ++stats_.untimed;
      first_ns = now;  // a guess: the assembler keeps its sample clock once it has one
    }
    const size_t samples = bytes / frame_bytes;
    if (data == nullptr) {
      assembler_.pushHole(samples, first_ns, timed);
    } else {
      assembler_.push(static_cast<const float*>(data), samples, first_ns, timed);
    }
    ++stats_.chunks;
    pa_stream_drop(stream_);
  }
}

Result<const CapturedFrame*> PulseCapture::next() {
  if (failure_) return *failure_;
  if (auto healthy = session_.health(); !healthy) return healthy.error();
  const CapturedFrame* frame = assembler_.next();
  stats_.assembler = assembler_.stats();
  return frame;
}

}  // namespace funkhaus::audio
