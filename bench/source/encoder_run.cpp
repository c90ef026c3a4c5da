// The encoder benchmark's clip, variants, paced run, decoding and PSNR.
#include "funkhaus/bench/encoder_run.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
}

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "funkhaus/bench/machine.h"
#include "funkhaus/capture/synthetic_pattern.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"

namespace funkhaus::bench {

namespace {

void sleepUntil(uint64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000u);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace

// ---- Clip -------------------------------------------------------------------------------------

Result<Clip> Clip::render(uint32_t width, uint32_t height, uint32_t frames) {
  auto pattern = capture::SyntheticPattern::create(width, height);
  if (!pattern) return pattern.error();
  if (frames == 0) return makeError("a clip needs at least one frame");
  Clip clip;
  clip.geometry_ = pattern->geometry();
  clip.frame_bytes_ = pattern->frameBytes();
  clip.frames_ = frames;
  clip.bytes_.resize(clip.frame_bytes_ * frames);
  for (uint32_t i = 0; i < frames; ++i) {
    // The capture time in the barcode is the frame's place on a 60 fps grid: the content is
    // the same in every run, and the barcode changes every frame as it does live.
    const capture::BarcodeData data{i, uint64_t{i} * 1'000'000'000u / 60};
    pattern->render(data, clip.bytes_.data() + uint64_t{i} * clip.frame_bytes_);
  }
  return clip;
}

std::span<const std::byte> Clip::frame(uint32_t index) const {
  return {bytes_.data() + uint64_t{index} * frame_bytes_, static_cast<size_t>(frame_bytes_)};
}

PlaneView Clip::plane(uint32_t index, int plane) const {
  const auto p = static_cast<size_t>(plane);
  const uint32_t w = plane == 0 ? geometry_.width : (geometry_.width + 1) / 2;
  const uint32_t h = plane == 0 ? geometry_.height : (geometry_.height + 1) / 2;
  return {reinterpret_cast<const uint8_t*>(frame(index).data()) + geometry_.plane_offset[p],
          geometry_.stride[p], w, h};
}

// ---- variants ---------------------------------------------------------------------------------

std::vector<EncoderVariant> encoderVariants(const encode::EncoderConfig& base) {
  std::vector<EncoderVariant> v;
  auto add = [&](std::string key, std::string what, auto&& set) {
    encode::EncoderConfig c = base;
    c.threads = 0;
    c.sliced_threads = true;
    c.zerolatency = true;
    c.lookahead = -1;
    c.vbv_frames = 1;
    set(c);
    v.push_back({std::move(key), std::move(what), c});
  };
  add("sliced-auto", "zerolatency, sliced threads, x264's thread count, 1-frame VBV",
      [](encode::EncoderConfig&) {});
  for (uint32_t n = 1; n <= 4; ++n)
    add("sliced-" + std::to_string(n), "as sliced-auto, " + std::to_string(n) + " thread(s)",
        [n](encode::EncoderConfig& c) { c.threads = n; });
  add("frame-auto", "as sliced-auto, frame threads (x264's count)",
      [](encode::EncoderConfig& c) { c.sliced_threads = false; });
  add("frame-2", "as sliced-auto, 2 frame threads", [](encode::EncoderConfig& c) {
    c.sliced_threads = false;
    c.threads = 2;
  });
  add("vbv-1s", "as sliced-auto, VBV of one second",
      [](encode::EncoderConfig& c) { c.vbv_frames = c.fps; });
  add("no-vbv", "as sliced-auto, no VBV (average bitrate only)",
      [](encode::EncoderConfig& c) { c.vbv_frames = 0; });
  add("no-zerolatency", "tune none: frame threads, the preset's rc-lookahead",
      [](encode::EncoderConfig& c) {
        c.zerolatency = false;
        c.sliced_threads = false;
      });
  add("no-zerolatency-la10", "tune none: frame threads, rc-lookahead 10",
      [](encode::EncoderConfig& c) {
        c.zerolatency = false;
        c.sliced_threads = false;
        c.lookahead = 10;
      });
  return v;
}

// ---- paced run --------------------------------------------------------------------------------

Result<EncoderRun> runPaced(const Clip& clip, const encode::EncoderConfig& config) {
  auto encoder = encode::Encoder::create(config);
  if (!encoder) return encoder.error();
  EncoderRun run;
  run.units.reserve(clip.frames());
  std::vector<uint32_t> source_of_pts;
  source_of_pts.reserve(clip.frames());
  const auto sink = [&](const encode::AccessUnit& unit) {
    const uint64_t now = monotonicNs();
    EncodedUnit u;
    const auto pts = static_cast<size_t>(unit.pts);
    u.source = pts < source_of_pts.size() ? source_of_pts[pts] : UINT32_MAX;
    u.due_ns = unit.capture_time_ns;
    u.out_ns = now;
    u.idr = unit.idr;
    u.data.assign(unit.data.begin(), unit.data.end());
    if (run.units.empty()) run.x264_options = x264OptionsText(unit.data);
    run.units.push_back(std::move(u));
  };
  const uint64_t period = 1'000'000'000u / config.fps;
  const uint64_t start = monotonicNs() + 20'000'000;  // first deadline: 20 ms from now
  sleepUntil(start);
  const uint64_t cpu_from = processCpuNs(0).value_or(0);
  const uint64_t machine_from = machineBusyNs();
  uint32_t next = 0;
  while (next < clip.frames()) {
    const uint64_t due = start + uint64_t{next} * period;
    sleepUntil(due);
    // The newest frame that is due by now (the encode stage takes the latest of its ring).
    const uint64_t now = monotonicNs();
    const uint32_t latest = std::min<uint64_t>(clip.frames() - 1, (now - start) / period);
    const uint32_t index = std::max(next, latest);
    run.skipped += index - next;
    encode::Picture picture;
    picture.geometry = clip.geometry();
    picture.payload = clip.frame(index);
    picture.capture_time_ns = start + uint64_t{index} * period;
    picture.on_release = [] {};
    source_of_pts.push_back(index);
    ++run.handed_in;
    if (auto sent = encoder->encode(std::move(picture), sink); !sent)
      return makeError("frame {}: {}", index, sent.error().message);
    next = index + 1;
  }
  run.cpu_ns = processCpuNs(0).value_or(0) - cpu_from;
  run.machine_busy_ns = machineBusyNs() - machine_from;
  run.wall_ns = monotonicNs() - start;
  return run;
}

// ---- decoding and PSNR ------------------------------------------------------------------------

Result<SquaredError> qualityOf(const Clip& clip, const std::vector<EncodedUnit>& units,
                               uint32_t first_source, size_t* pictures) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
  if (codec == nullptr) return makeError("no H.264 decoder in this libavcodec");
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  if (ctx == nullptr || packet == nullptr || frame == nullptr) std::abort();  // out of memory
  ctx->thread_count = 0;  // after the timed run: as fast as the machine allows
  SquaredError total;
  size_t compared = 0;
  std::string error;
  auto receive = [&]() {
    for (;;) {
      const int err = avcodec_receive_frame(ctx, frame);
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
      if (err < 0) {
        error = "decoder: receive_frame failed";
        return;
      }
      const auto index = static_cast<size_t>(frame->pts);
      if (frame->pts < 0 || index >= units.size() || frame->format != AV_PIX_FMT_YUV420P ||
          frame->width != static_cast<int>(clip.geometry().width) ||
          frame->height != static_cast<int>(clip.geometry().height)) {
        error = "decoder: a picture that matches no unit, or of another size or format";
        av_frame_unref(frame);
        return;
      }
      const uint32_t source = units[index].source;
      if (source < clip.frames() && source >= first_source) {
        for (int p = 0; p < 3; ++p) {
          const PlaneView src = clip.plane(source, p);
          const PlaneView out{frame->data[p], static_cast<size_t>(frame->linesize[p]), src.width,
                              src.height};
          total.addPlane(p, src, out);
        }
        ++compared;
      }
      av_frame_unref(frame);
    }
  };
  if (avcodec_open2(ctx, codec, nullptr) < 0) error = "cannot open the H.264 decoder";
  for (size_t i = 0; i < units.size() && error.empty(); ++i) {
    packet->data = const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(units[i].data.data()));
    packet->size = static_cast<int>(units[i].data.size());
    packet->pts = static_cast<int64_t>(i);
    packet->dts = static_cast<int64_t>(i);
    if (avcodec_send_packet(ctx, packet) < 0) error = "decoder refused access unit";
    receive();
  }
  if (error.empty() && avcodec_send_packet(ctx, nullptr) >= 0) receive();
  av_frame_free(&frame);
  av_packet_free(&packet);
  avcodec_free_context(&ctx);
  if (!error.empty()) return makeError("{}", error);
  if (pictures != nullptr) *pictures = compared;
  return total;
}

// ---- x264's SEI -------------------------------------------------------------------------------

std::string x264OptionsText(std::span<const std::byte> access_unit) {
  // The SEI payload is printable ASCII, so it holds no emulation-prevention bytes: the text
  // can be read from the Annex-B bytes directly.
  const std::string_view bytes(reinterpret_cast<const char*>(access_unit.data()),
                               access_unit.size());
  const size_t core = bytes.find("x264 - core ");
  if (core == std::string_view::npos) return {};
  const std::string_view marker = "options: ";
  const size_t at = bytes.find(marker, core);
  if (at == std::string_view::npos) return {};
  size_t end = at + marker.size();
  while (end < bytes.size() && bytes[end] >= 0x20 && bytes[end] < 0x7f) ++end;
  return std::string(bytes.substr(at + marker.size(), end - at - marker.size()));
}

std::map<std::string, std::string> parseX264Options(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string token;
  while (in >> token) {
    const size_t eq = token.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    out[token.substr(0, eq)] = token.substr(eq + 1);
  }
  return out;
}

}  // namespace funkhaus::bench
