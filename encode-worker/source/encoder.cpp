// Encoder over libavcodec: resolution and hardware probe with software fallback, low-latency
// settings per encoder family, in-place input through refcounted AVBuffers, conversion with
// the one ColourConverter (common/media) where the encoder cannot take the slot's pixel format,
// BT.709 limited range tagged in the VUI, upload for VAAPI.
#include "funkhaus/encode/encoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/buffer.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include <spdlog/spdlog.h>

#include <array>
#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include "encoder_names.h"
#include "funkhaus/common/media/colour.h"
#include "libav_log.h"

namespace funkhaus::encode {

namespace {

std::string averror(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

// ---- formats ----------------------------------------------------------------------------------

bool supports(const AVCodec* codec, AVPixelFormat format) {
  if (codec->pix_fmts == nullptr) return false;
  for (const AVPixelFormat* f = codec->pix_fmts; *f != AV_PIX_FMT_NONE; ++f)
    if (*f == format) return true;
  return false;
}

// The libav formats a slot format can be handed over as, without conversion.
std::vector<AVPixelFormat> directFormats(abi::PixelFormat format) {
  switch (format) {
    case abi::PixelFormat::kI420:
      return {AV_PIX_FMT_YUV420P};
    case abi::PixelFormat::kNv12:
      return {AV_PIX_FMT_NV12};
    case abi::PixelFormat::kBgra:
      // BGR0 has the same bytes; encoders that ignore alpha (NVENC) list only that one.
      return {AV_PIX_FMT_BGRA, AV_PIX_FMT_BGR0};
    case abi::PixelFormat::kUnknown:
      break;
  }
  return {};
}

// Frees the picture's release callback once the last AVBuffer reference is gone.
void releasePicture(void* opaque, uint8_t* /*data*/) {
  auto* on_release = static_cast<std::function<void()>*>(opaque);
  if (*on_release) (*on_release)();
  delete on_release;
}

struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

FramePtr allocFrame() {
  AVFrame* f = av_frame_alloc();
  if (f == nullptr) std::abort();  // out of memory for a 500-byte struct: nothing to recover
  return FramePtr(f);
}

}  // namespace

// ---- Impl -------------------------------------------------------------------------------------

struct Encoder::Impl {
  EncoderConfig config;
  std::string name;
  std::string requested;
  std::string fallback_reason;
  Codec codec = Codec::kH264;
  Family family = Family::kX264;
  const AVCodec* av_codec = nullptr;

  AVCodecContext* ctx = nullptr;
  AVBufferRef* hw_device = nullptr;  // VAAPI device, created once
  AVBufferRef* hw_frames = nullptr;  // VAAPI surfaces of the open size
  media::ColourConverter converter;  // where the encoder cannot take the slot's format
  AVPacket* packet = nullptr;
  FramePtr last;  // the kept picture, as sent (slot-backed, converted or uploaded)
  std::array<FramePtr, 2> scratch;  // conversion targets, reused while nobody else refers to them
  size_t scratch_next = 0;

  // What the encoder is open for.
  struct Shape {
    int width = 0;
    int height = 0;
    uint32_t slot_format = 0;
    friend bool operator==(const Shape&, const Shape&) = default;
  };
  Shape shape;
  AVPixelFormat direct_format = AV_PIX_FMT_NONE;  // slot handed over as is, or NONE
  AVPixelFormat sw_format = AV_PIX_FMT_NONE;      // what the encoder (or upload) takes
  bool reopen_pending = false;

  int64_t next_pts = 0;
  bool keyframe_pending = false;
  struct InFlight {
    int64_t pts = -1;
    uint64_t capture_time_ns = 0;
    bool repeat = false;
  };
  std::array<InFlight, 64> in_flight{};  // by pts % size, for encoders with delay
  Stats stats;

  ~Impl() {
    close();
    for (auto& s : scratch) s.reset();
    av_packet_free(&packet);
    av_buffer_unref(&hw_frames);
    av_buffer_unref(&hw_device);
  }

  bool hardware() const { return family != Family::kX264 && family != Family::kX265; }

  void close() {
    if (ctx != nullptr) avcodec_free_context(&ctx);
  }

  // The sw formats this encoder accepts from us (VAAPI: what its surfaces are uploaded from).
  bool accepts(AVPixelFormat f) const {
    if (family == Family::kVaapi) return f == AV_PIX_FMT_NV12;
    return supports(av_codec, f);
  }

  AVPixelFormat conversionTarget() const {
    if (accepts(AV_PIX_FMT_YUV420P)) return AV_PIX_FMT_YUV420P;
    return AV_PIX_FMT_NV12;
  }

  void applyRate(AVCodecContext* c, uint64_t bitrate) const {
    const auto b = static_cast<int64_t>(bitrate);
    c->bit_rate = b;
    // Constant rate through a VBV of vbv_frames frames (default one); none: average only.
    const bool vbv = config.vbv_frames > 0;
    c->rc_max_rate = vbv ? b : 0;
    c->rc_min_rate = vbv ? b : 0;
    c->rc_buffer_size = static_cast<int>(bitrate * config.vbv_frames / config.fps);
    c->rc_initial_buffer_occupancy = c->rc_buffer_size;
  }

  Result<void> ensureHwFrames(int width, int height) {
    if (hw_device == nullptr) {
      const int err =
          av_hwdevice_ctx_create(&hw_device, AV_HWDEVICE_TYPE_VAAPI, nullptr, nullptr, 0);
      if (err < 0) return makeError("no VAAPI device ({})", averror(err));
    }
    if (hw_frames != nullptr) {
      const auto* fc = reinterpret_cast<const AVHWFramesContext*>(hw_frames->data);
      if (fc->width == width && fc->height == height) return {};
      av_buffer_unref(&hw_frames);
    }
    AVBufferRef* frames = av_hwframe_ctx_alloc(hw_device);
    if (frames == nullptr) return makeError("VAAPI: cannot allocate a frames context");
    auto* fc = reinterpret_cast<AVHWFramesContext*>(frames->data);
    fc->format = AV_PIX_FMT_VAAPI;
    fc->sw_format = AV_PIX_FMT_NV12;
    fc->width = width;
    fc->height = height;
    fc->initial_pool_size = 8;
    if (const int err = av_hwframe_ctx_init(frames); err < 0) {
      av_buffer_unref(&frames);
      return makeError("VAAPI surfaces {}x{} NV12: {}", width, height, averror(err));
    }
    hw_frames = frames;
    return {};
  }

  // Opens a context for width x height taking `input` (a sw format; VAAPI uploads from it),
  // BT.709 limited range (the colour policy) in the VUI.
  Result<void> open(int width, int height, AVPixelFormat input, bool quiet = false) {
    close();
    AVCodecContext* c = avcodec_alloc_context3(av_codec);
    if (c == nullptr) return makeError("{}: cannot allocate a codec context", name);
    c->width = width;
    c->height = height;
    c->time_base = AVRational{1, static_cast<int>(config.fps)};
    c->framerate = AVRational{static_cast<int>(config.fps), 1};
    c->pix_fmt = family == Family::kVaapi ? AV_PIX_FMT_VAAPI : input;
    c->max_b_frames = 0;
    // No AV_CODEC_FLAG_GLOBAL_HEADER: parameter sets stay in-band, before every IDR.
    c->flags &= ~AV_CODEC_FLAG_GLOBAL_HEADER;
    applyRate(c, config.bitrate);
    // The colour policy: what capture wrote (abi::ColourSpace::kBt709Limited) or what we
    // converted BGRA to. Tagged, so that a viewer does not guess BT.601.
    c->colorspace = AVCOL_SPC_BT709;
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_BT709;
    c->color_range = AVCOL_RANGE_MPEG;
    const int preset = presetIndex(config.preset);
    AVDictionary* opts = nullptr;
    switch (family) {
      case Family::kX264: {
        // Infinite GOP (IDR on demand only), no scene-cut keyframes; tune zerolatency gives
        // no lookahead, no B-frames and sliced threads (one frame in, one frame out). The
        // wrapper sets x264's threads from thread_count (0: auto) and sliced threads from
        // thread_type (slice only: sliced; libavcodec's default, frame|slice, would turn
        // them off); x264-params come last and override preset and tune.
        c->gop_size = -1;
        c->thread_count = static_cast<int>(config.threads);
        c->thread_type = config.sliced_threads ? FF_THREAD_SLICE : FF_THREAD_FRAME;
        av_dict_set(&opts, "preset", config.preset.c_str(), 0);
        if (config.zerolatency) av_dict_set(&opts, "tune", "zerolatency", 0);
        av_dict_set(&opts, "forced-idr", "1", 0);
        std::string params = "keyint=infinite:scenecut=0:bframes=0";
        params += config.sliced_threads ? ":sliced-threads=1" : ":sliced-threads=0";
        if (config.lookahead >= 0) params += ":rc-lookahead=" + std::to_string(config.lookahead);
        av_dict_set(&opts, "x264-params", params.c_str(), 0);
        break;
      }
      case Family::kX265:
        c->gop_size = -1;
        av_dict_set(&opts, "preset", config.preset.c_str(), 0);
        if (config.zerolatency) av_dict_set(&opts, "tune", "zerolatency", 0);
        av_dict_set(&opts, "forced-idr", "1", 0);
        // keyint=-1: one IDR at the start, then only on demand. open-gop=0: with an open GOP
        // x265 turns a forced keyframe into a CRA, not an IDR. x265 writes its own log to
        // stderr; keep it to errors.
        av_dict_set(&opts, "x265-params",
                    "keyint=-1:scenecut=0:bframes=0:open-gop=0:repeat-headers=1:log-level=error",
                    0);
        break;
      case Family::kNvenc: {
        static constexpr const char* kNvencPreset[] = {"p1", "p1", "p2", "p3", "p4",
                                                       "p5", "p6", "p7", "p7", "p7"};
        c->gop_size = INT_MAX;
        av_dict_set(&opts, "preset", kNvencPreset[preset], 0);
        av_dict_set(&opts, "tune", "ull", 0);
        av_dict_set(&opts, "rc", "cbr", 0);
        av_dict_set(&opts, "zerolatency", "1", 0);
        av_dict_set(&opts, "delay", "0", 0);
        av_dict_set(&opts, "forced-idr", "1", 0);
        break;
      }
      case Family::kVaapi:
        c->gop_size = INT16_MAX;
        av_dict_set(&opts, "rc_mode", "CBR", 0);
        av_dict_set(&opts, "async_depth", "1", 0);
        av_dict_set(&opts, "idr_interval", "0", 0);
        if (auto hw = ensureHwFrames(width, height); !hw) {
          av_dict_free(&opts);
          avcodec_free_context(&c);
          return hw.error();
        }
        c->hw_frames_ctx = av_buffer_ref(hw_frames);
        break;
      case Family::kQsv: {
        static constexpr const char* kQsvPreset[] = {"veryfast", "veryfast", "veryfast", "faster",
                                                     "fast",     "medium",   "slow",     "slower",
                                                     "veryslow", "veryslow"};
        c->gop_size = INT16_MAX;
        av_dict_set(&opts, "preset", kQsvPreset[preset], 0);
        av_dict_set(&opts, "forced_idr", "1", 0);
        av_dict_set(&opts, "async_depth", "1", 0);
        av_dict_set(&opts, "look_ahead", "0", 0);
        break;
      }
    }
    const int err = avcodec_open2(c, av_codec, &opts);
    for (const AVDictionaryEntry* e = av_dict_get(opts, "", nullptr, AV_DICT_IGNORE_SUFFIX);
         e != nullptr && !quiet; e = av_dict_get(opts, "", e, AV_DICT_IGNORE_SUFFIX))
      spdlog::warn("{}: option {}={} not taken by this libavcodec build", name, e->key, e->value);
    av_dict_free(&opts);
    if (err < 0) {
      avcodec_free_context(&c);
      return makeError("{}: cannot open for {}x{} {}: {}", name, width, height,
                       av_get_pix_fmt_name(input), averror(err));
    }
    ctx = c;
    reopen_pending = false;
    keyframe_pending = false;  // a fresh encoder starts with an IDR anyway
    if (quiet) return {};
    ++stats.opens;
    spdlog::info("{}: opened {}x{} {} at {} bit/s, {} fps, preset {}", name, width, height,
                 av_get_pix_fmt_name(input), config.bitrate, config.fps, config.preset);
    return {};
  }

  // Opens at a nominal size and closes again: does this encoder work on this machine?
  Result<void> probe() {
    AVPixelFormat input = conversionTarget();
    auto opened = open(1280, 720, input, /*quiet=*/true);
    close();
    return opened;
  }

  // A frame of the encoder's own to convert into, not referenced by anyone else.
  AVFrame* scratchFrame(int width, int height, AVPixelFormat format) {
    for (auto& s : scratch)
      if (s && s->width == width && s->height == height && s->format == format &&
          av_frame_is_writable(s.get()))
        return s.get();
    // None free: replace one (an encoder that still refers to its buffer keeps that alive).
    FramePtr& s = scratch[scratch_next];
    scratch_next = (scratch_next + 1) % scratch.size();
    s = allocFrame();
    s->width = width;
    s->height = height;
    s->format = format;
    if (av_frame_get_buffer(s.get(), 64) < 0) std::abort();  // out of memory
    return s.get();
  }

  Result<void> drain(const AccessUnitSink& sink) {
    for (;;) {
      const int err = avcodec_receive_packet(ctx, packet);
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return {};
      if (err < 0) return makeError("{}: receive_packet: {}", name, averror(err));
      const InFlight& f = in_flight[static_cast<size_t>(packet->pts) % in_flight.size()];
      AccessUnit unit;
      unit.data = std::span<const std::byte>(reinterpret_cast<const std::byte*>(packet->data),
                                             static_cast<size_t>(packet->size));
      unit.pts = packet->pts;
      unit.dts = packet->dts;
      unit.capture_time_ns = f.pts == packet->pts ? f.capture_time_ns : 0;
      unit.repeat = f.pts == packet->pts && f.repeat;
      auto info = parseAccessUnit(codec, unit.data);
      if (!info) {
        av_packet_unref(packet);
        return makeError("{}: output is not Annex-B: {}", name, info.error().message);
      }
      unit.idr = info->keyframe;
      if (unit.idr) ++stats.idr;
      sink(unit);
      av_packet_unref(packet);
    }
  }

  // Sends the kept picture with the next pts.
  Result<void> sendLast(uint64_t capture_time_ns, bool repeat, const AccessUnitSink& sink) {
    FramePtr f = allocFrame();
    if (const int err = av_frame_ref(f.get(), last.get()); err < 0)
      return makeError("{}: av_frame_ref: {}", name, averror(err));
    const int64_t pts = next_pts++;
    f->pts = pts;
    f->pict_type = keyframe_pending ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    keyframe_pending = false;
    in_flight[static_cast<size_t>(pts) % in_flight.size()] = {pts, capture_time_ns, repeat};
    for (uint32_t i = 0; i < abi::kMaxPlanes; ++i) stats.last_sent_data[i] = f->data[i];
    stats.last_sent_refcount = f->buf[0] != nullptr ? av_buffer_get_ref_count(f->buf[0]) : 0;
    ++stats.pictures;
    const int err = avcodec_send_frame(ctx, f.get());
    f.reset();
    if (err < 0) return makeError("{}: send_frame: {}", name, averror(err));
    return drain(sink);
  }

  // After a failure: start over with a new encoder at the next picture.
  void reset() {
    close();
    last.reset();
    shape = {};
  }
};

// ---- Encoder ----------------------------------------------------------------------------------

Result<Encoder> Encoder::create(const EncoderConfig& config) {
  if (auto valid = validateConfig(config); !valid) return valid.error();
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->requested = config.encoder;
  impl->packet = av_packet_alloc();
  if (impl->packet == nullptr) return makeError("cannot allocate an AVPacket");
  const KnownEncoder* known = findKnown(config.encoder);
  auto use = [&](const KnownEncoder& k) -> Result<void> {
    impl->name = k.name;
    impl->codec = k.codec;
    impl->family = k.family;
    impl->av_codec = avcodec_find_encoder_by_name(k.name);
    if (impl->av_codec == nullptr) return makeError("{} is not in this libavcodec build", k.name);
    LogCapture capture;
    auto probed = impl->probe();
    std::string said = capture.take();
    if (!probed)
      return makeError("{}{}{}", probed.error().message,
                       said.empty() ? "" : " (libav: ", said.empty() ? "" : said + ")");
    return {};
  };
  auto chosen = use(*known);
  if (!chosen && impl->hardware()) {
    const KnownEncoder* fallback = findKnown(softwareEncoderFor(known->codec));
    impl->fallback_reason = chosen.error().message;
    av_buffer_unref(&impl->hw_frames);  // a VAAPI device may have opened before the encoder failed
    av_buffer_unref(&impl->hw_device);
    spdlog::warn("encoder {} was asked for but is unavailable: {}; using {} instead",
                 config.encoder, impl->fallback_reason, fallback->name);
    chosen = use(*fallback);
  }
  if (!chosen) return chosen.error();
  return Encoder(std::move(impl));
}

Encoder::Encoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Encoder::Encoder(Encoder&& other) noexcept = default;
Encoder& Encoder::operator=(Encoder&& other) noexcept = default;
Encoder::~Encoder() = default;

const std::string& Encoder::name() const { return impl_->name; }
const std::string& Encoder::requested() const { return impl_->requested; }
const std::string& Encoder::fallbackReason() const { return impl_->fallback_reason; }
Codec Encoder::codec() const { return impl_->codec; }
const EncoderConfig& Encoder::config() const { return impl_->config; }
const Encoder::Stats& Encoder::stats() const { return impl_->stats; }
bool Encoder::hasLast() const { return impl_->last != nullptr; }
void Encoder::dropLast() { impl_->last.reset(); }
void Encoder::requestKeyframe() { impl_->keyframe_pending = true; }

Result<void> Encoder::setBitrate(uint64_t bitrate) {
  if (auto valid = validateBitrate(bitrate); !valid) return valid;
  Impl& m = *impl_;
  if (bitrate == m.config.bitrate) return {};
  m.config.bitrate = bitrate;
  if (m.ctx == nullptr) return {};
  if (m.family == Family::kX264) {
    // libx264's wrapper compares these with x264's parameters on every frame and calls
    // x264_encoder_reconfig when they differ: no reopen, no IDR.
    m.applyRate(m.ctx, bitrate);
    ++m.stats.bitrate_reconfigs;
  } else {
    m.reopen_pending = true;
  }
  return {};
}

Result<void> Encoder::encode(Picture picture, const AccessUnitSink& sink) {
  Impl& m = *impl_;
  const abi::FrameGeometry& g = picture.geometry;
  // The release callback travels with the AVBuffer from here on; every early return below
  // frees the frame and with it (once nothing else refers to it) calls on_release.
  auto* on_release = new std::function<void()>(std::move(picture.on_release));
  AVBufferRef* buffer = av_buffer_create(
      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(picture.payload.data())),
      picture.payload.size(), releasePicture, on_release, AV_BUFFER_FLAG_READONLY);
  if (buffer == nullptr) {
    releasePicture(on_release, nullptr);
    return makeError("cannot wrap the picture in an AVBuffer");
  }
  FramePtr src = allocFrame();
  src->buf[0] = buffer;
  const auto slot_format = static_cast<abi::PixelFormat>(g.format);
  const Impl::Shape shape{static_cast<int>(g.width & ~1u), static_cast<int>(g.height & ~1u),
                          g.format};
  if (shape.width < 2 || shape.height < 2)
    return makeError("picture {}x{} is too small to encode", g.width, g.height);
  if (g.plane_count > abi::kMaxPlanes || directFormats(slot_format).empty())
    return makeError("picture has unknown pixel format {}", g.format);
  if (auto colour = media::frameColourSpace(slot_format, picture.colour); !colour)
    return colour.error();
  for (uint32_t i = 0; i < g.plane_count; ++i) {
    // The ring checked that every plane lies inside the payload (framePayloadSize).
    src->data[i] = const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(picture.payload.data()) +
                                        g.plane_offset[i]);
    src->linesize[i] = static_cast<int>(g.stride[i]);
  }
  src->width = shape.width;
  src->height = shape.height;

  if (m.ctx == nullptr || !(shape == m.shape) || m.reopen_pending) {
    // Flush what the old encoder still holds, then open for the new shape: first unit IDR.
    if (m.ctx != nullptr && !(shape == m.shape)) {
      if (avcodec_send_frame(m.ctx, nullptr) >= 0) (void)m.drain(sink);
    }
    m.last.reset();
    m.direct_format = AV_PIX_FMT_NONE;
    for (AVPixelFormat f : directFormats(slot_format))
      if (m.direct_format == AV_PIX_FMT_NONE && m.accepts(f)) m.direct_format = f;
    m.sw_format = m.direct_format != AV_PIX_FMT_NONE ? m.direct_format : m.conversionTarget();
    m.shape = {};
    if (auto opened = m.open(shape.width, shape.height, m.sw_format); !opened)
      return opened.error();
    m.shape = shape;
  }
  m.last.reset();  // let go of the previous picture: its slot goes back once libav is done

  FramePtr input;
  if (m.direct_format != AV_PIX_FMT_NONE) {
    src->format = m.direct_format;
    input = std::move(src);
    if (m.family != Family::kVaapi) ++m.stats.in_place;
  } else {
    AVFrame* dst = m.scratchFrame(shape.width, shape.height, m.sw_format);
    auto from = media::imageOf(g, const_cast<std::byte*>(picture.payload.data()));
    if (!from) return from.error();
    from->width = static_cast<uint32_t>(shape.width);  // even-cropped
    from->height = static_cast<uint32_t>(shape.height);
    media::Image to;
    to.layout =
        m.sw_format == AV_PIX_FMT_NV12 ? media::PixelLayout::kNv12 : media::PixelLayout::kI420;
    to.width = static_cast<uint32_t>(shape.width);
    to.height = static_cast<uint32_t>(shape.height);
    for (int i = 0; i < 3; ++i) {
      to.planes[i] = dst->data[i];
      to.strides[i] = static_cast<uint32_t>(std::max(dst->linesize[i], 0));
    }
    if (auto converted = m.converter.convert(*from, to); !converted) return converted.error();
    src.reset();  // converted: the slot can go back now
    input = allocFrame();
    if (av_frame_ref(input.get(), dst) < 0) std::abort();  // a ref of an allocated frame
    ++m.stats.converted;
  }
  if (m.family == Family::kVaapi) {
    FramePtr hw = allocFrame();
    if (const int err = av_hwframe_get_buffer(m.hw_frames, hw.get(), 0); err < 0) {
      m.reset();
      return makeError("{}: no VAAPI surface: {}", m.name, averror(err));
    }
    if (const int err = av_hwframe_transfer_data(hw.get(), input.get(), 0); err < 0) {
      m.reset();
      return makeError("{}: upload to VAAPI surface: {}", m.name, averror(err));
    }
    input = std::move(hw);  // the slot (or scratch frame) is let go here
  }
  m.last = std::move(input);
  if (auto sent = m.sendLast(picture.capture_time_ns, false, sink); !sent) {
    m.reset();
    return sent;
  }
  return {};
}

Result<void> Encoder::repeatLast(uint64_t capture_time_ns, const AccessUnitSink& sink) {
  Impl& m = *impl_;
  if (!m.last || m.ctx == nullptr) return makeError("no picture to repeat");
  if (m.reopen_pending) {
    FramePtr keep = std::move(m.last);
    if (auto opened = m.open(m.shape.width, m.shape.height, m.sw_format); !opened) {
      m.reset();
      return opened.error();
    }
    m.last = std::move(keep);
  }
  if (auto sent = m.sendLast(capture_time_ns, true, sink); !sent) {
    m.reset();
    return sent;
  }
  return {};
}

}  // namespace funkhaus::encode
