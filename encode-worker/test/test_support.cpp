// Test helpers: pictures, rings, decoder, log capture.
#include "test_support.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
}

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// LeakSanitizer (the --sanitize build): libx265 3.5 leaks buffers it allocates inside
// x265_encoder_open (FrameFilter::init) and never frees in x265_encoder_close; not ours.
extern "C" const char* __lsan_default_suppressions() { return "leak:libx265.so\n"; }

namespace funkhaus::encode::test {

namespace {

uint8_t* plane(const abi::FrameGeometry& g, std::span<std::byte> payload, uint32_t i) {
  return reinterpret_cast<uint8_t*>(payload.data()) + g.plane_offset[i];
}

struct Rng {
  uint64_t state;
  uint8_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<uint8_t>(state >> 24);
  }
};

// The moving pattern as RGB-ish components: a diagonal gradient, a vertical gradient and a box
// that moves 8 pixels per picture.
struct Moving {
  uint32_t w, h, index;
  bool inBox(uint32_t x, uint32_t y) const {
    const uint32_t size = std::max(8u, std::min(w, h) / 6);
    const uint32_t bx = (index * 8) % std::max(1u, w - std::min(w, size));
    const uint32_t by = (index * 4) % std::max(1u, h - std::min(h, size));
    return x >= bx && x < bx + size && y >= by && y < by + size;
  }
  uint8_t luma(uint32_t x, uint32_t y) const {
    if (inBox(x, y)) return 230;
    return static_cast<uint8_t>(24 + (x + 2 * y + 2 * index) % 180);
  }
};

}  // namespace

void drawPicture(const abi::FrameGeometry& g, std::span<std::byte> payload, uint32_t index,
                 Pattern pattern) {
  const uint32_t w = g.width, h = g.height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  Rng rng{0x9E3779B97F4A7C15ull ^ (uint64_t{index} * 0x100000001B3ull) ^ 1};
  const Moving m{w, h, index};
  const auto format = static_cast<abi::PixelFormat>(g.format);
  if (format == abi::PixelFormat::kBgra) {
    for (uint32_t y = 0; y < h; ++y) {
      uint8_t* row = plane(g, payload, 0) + size_t{y} * g.stride[0];
      for (uint32_t x = 0; x < w; ++x) {
        uint8_t* px = row + 4 * x;
        if (pattern == Pattern::kNoise) {
          px[0] = rng.next();
          px[1] = rng.next();
          px[2] = rng.next();
        } else {
          const uint8_t l = m.luma(x, y);
          px[0] = static_cast<uint8_t>(l / 2 + 40);              // B
          px[1] = l;                                             // G
          px[2] = static_cast<uint8_t>(255 - l / 2 - (y % 64));  // R
        }
        px[3] = 255;
      }
    }
    return;
  }
  for (uint32_t y = 0; y < h; ++y) {
    uint8_t* row = plane(g, payload, 0) + size_t{y} * g.stride[0];
    for (uint32_t x = 0; x < w; ++x)
      row[x] =
          pattern == Pattern::kNoise ? static_cast<uint8_t>(16 + rng.next() % 220) : m.luma(x, y);
  }
  auto chroma = [&](uint32_t x, uint32_t y, int which) -> uint8_t {
    if (pattern == Pattern::kNoise) return static_cast<uint8_t>(16 + rng.next() % 225);
    return static_cast<uint8_t>(which == 0 ? 128 + (x % 64) - 32 : 128 + (y % 48) - 24);
  };
  if (format == abi::PixelFormat::kI420) {
    for (uint32_t p = 1; p <= 2; ++p)
      for (uint32_t y = 0; y < ch; ++y) {
        uint8_t* row = plane(g, payload, p) + size_t{y} * g.stride[p];
        for (uint32_t x = 0; x < cw; ++x) row[x] = chroma(x, y, static_cast<int>(p - 1));
      }
  } else if (format == abi::PixelFormat::kNv12) {
    for (uint32_t y = 0; y < ch; ++y) {
      uint8_t* row = plane(g, payload, 1) + size_t{y} * g.stride[1];
      for (uint32_t x = 0; x < cw; ++x) {
        row[2 * x] = chroma(x, y, 0);
        row[2 * x + 1] = chroma(x, y, 1);
      }
    }
  } else {
    std::abort();  // test bug: unknown format
  }
}

std::vector<uint8_t> expectedLuma(const abi::FrameGeometry& g, std::span<const std::byte> payload) {
  const uint32_t w = g.width & ~1u, h = g.height & ~1u;
  std::vector<uint8_t> out(size_t{w} * h);
  const auto* base = reinterpret_cast<const uint8_t*>(payload.data());
  for (uint32_t y = 0; y < h; ++y) {
    const uint8_t* row = base + g.plane_offset[0] + size_t{y} * g.stride[0];
    for (uint32_t x = 0; x < w; ++x) {
      if (static_cast<abi::PixelFormat>(g.format) == abi::PixelFormat::kBgra) {
        const double b = row[4 * x], gr = row[4 * x + 1], r = row[4 * x + 2];
        const double yf = 0.2126 * r + 0.7152 * gr + 0.0722 * b;
        out[size_t{y} * w + x] = static_cast<uint8_t>(std::lround(16 + yf * 219.0 / 255.0));
      } else {
        out[size_t{y} * w + x] = row[x];
      }
    }
  }
  return out;
}

double meanAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) return 1e9;
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::abs(int{a[i]} - int{b[i]});
  return sum / static_cast<double>(a.size());
}

SharedMemory makeFrameRing(const abi::FrameGeometry& capacity_mode, uint32_t slots) {
  FrameRingConfig config;
  config.name = "encode-test-frames";
  config.slot_count = slots;
  config.mode = capacity_mode;
  auto ring = createFrameRing(config);
  if (!ring) {
    std::fprintf(stderr, "createFrameRing: %s\n", ring.error().message.c_str());
    std::abort();
  }
  return std::move(*ring);
}

SharedMemory makePacketRing() {
  PacketRingConfig config;
  config.name = "encode-test-packets";
  config.capacity = 16u << 20;
  config.max_record_size = 4u << 20;
  auto ring = createPacketRing(config);
  if (!ring) std::abort();
  return std::move(*ring);
}

Rings makeRings(const abi::FrameGeometry& capacity_mode, uint32_t slots) {
  Rings r{
      makeFrameRing(capacity_mode, slots), makePacketRing(), nullptr, nullptr, nullptr, nullptr};
  auto producer = FrameProducer::attach(*SharedMemory::attachDup(r.frame_ring.handle()));
  auto consumer = FrameConsumer::attach(*SharedMemory::attachDup(r.frame_ring.handle()));
  auto packets = PacketProducer::attach(*SharedMemory::attachDup(r.packet_ring.handle()));
  auto reader = PacketConsumer::attach(*SharedMemory::attachDup(r.packet_ring.handle()));
  if (!producer || !consumer || !packets || !reader) std::abort();
  r.producer = std::make_unique<FrameProducer>(std::move(*producer));
  r.consumer = std::make_unique<FrameConsumer>(std::move(*consumer));
  r.packets = std::make_unique<PacketProducer>(std::move(*packets));
  r.reader = std::make_unique<PacketConsumer>(std::move(*reader));
  return r;
}

uint64_t publishPicture(FrameProducer& producer, const abi::FrameGeometry& g, uint32_t index,
                        uint64_t capture_time_ns, Pattern pattern) {
  auto slot = producer.beginFrame();
  if (!slot) return 0;
  drawPicture(g, slot->payload, index, pattern);
  FrameMeta meta;
  meta.capture_time_ns = capture_time_ns;
  meta.geometry = g;
  return producer.publish(*slot, meta);
}

std::vector<Record> drainRecords(PacketConsumer& reader) {
  std::vector<Record> out;
  for (;;) {
    auto peeked = reader.peek();
    if (!peeked) {
      std::fprintf(stderr, "packet ring: %s\n", peeked.error().message.c_str());
      std::abort();
    }
    if (!peeked->has_value()) return out;
    Record r;
    r.header = (*peeked)->header;
    r.payload.assign((*peeked)->payload.begin(), (*peeked)->payload.end());
    reader.pop();
    out.push_back(std::move(r));
  }
}

// ---- Decoder ----------------------------------------------------------------------------------

struct Decoder::Impl {
  AVCodecContext* ctx = nullptr;
  AVPacket* packet = nullptr;
  AVFrame* frame = nullptr;
  ~Impl() {
    avcodec_free_context(&ctx);
    av_packet_free(&packet);
    av_frame_free(&frame);
  }
};

Decoder::Decoder(Codec codec) : impl_(std::make_unique<Impl>()) {
  const AVCodec* c =
      avcodec_find_decoder(codec == Codec::kHevc ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264);
  if (c == nullptr) std::abort();
  impl_->ctx = avcodec_alloc_context3(c);
  impl_->ctx->thread_count = 1;                 // frame threads would delay output on their own
  impl_->ctx->err_recognition = AV_EF_EXPLODE;  // a damaged stream is an error, not a warning
  if (avcodec_open2(impl_->ctx, c, nullptr) < 0) std::abort();
  impl_->packet = av_packet_alloc();
  impl_->frame = av_frame_alloc();
}

Decoder::~Decoder() = default;

Result<std::vector<Decoder::Picture>> Decoder::decode(std::span<const std::byte> access_unit,
                                                      int64_t pts) {
  AVPacket* p = impl_->packet;
  if (av_new_packet(p, static_cast<int>(access_unit.size())) < 0) std::abort();
  std::memcpy(p->data, access_unit.data(), access_unit.size());
  p->pts = pts;
  p->dts = pts;
  const int sent = avcodec_send_packet(impl_->ctx, p);
  av_packet_unref(p);
  if (sent < 0) return makeError("avcodec_send_packet failed ({})", sent);
  std::vector<Picture> out;
  for (;;) {
    const int got = avcodec_receive_frame(impl_->ctx, impl_->frame);
    if (got == AVERROR(EAGAIN)) break;
    if (got < 0) return makeError("avcodec_receive_frame failed ({})", got);
    AVFrame* f = impl_->frame;
    if (f->decode_error_flags != 0)
      return makeError("decoded picture has error flags 0x{:x}", f->decode_error_flags);
    Picture pic;
    pic.width = f->width;
    pic.height = f->height;
    pic.pts = f->pts;
    pic.key_frame = f->key_frame != 0;
    pic.luma.resize(size_t(f->width) * size_t(f->height));
    for (int y = 0; y < f->height; ++y)
      std::memcpy(pic.luma.data() + size_t(y) * size_t(f->width),
                  f->data[0] + size_t(y) * size_t(f->linesize[0]), size_t(f->width));
    av_frame_unref(f);
    out.push_back(std::move(pic));
  }
  return out;
}

// ---- logs -------------------------------------------------------------------------------------

SpdlogCapture::SpdlogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(512)) {
  sink_->set_pattern("%l %v");
  spdlog::default_logger()->sinks().push_back(sink_);
}

SpdlogCapture::~SpdlogCapture() {
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
}

std::vector<std::string> SpdlogCapture::lines() const { return sink_->last_formatted(); }

size_t SpdlogCapture::count(const std::vector<std::string>& needles) const {
  size_t n = 0;
  for (const auto& line : lines()) {
    bool all = true;
    for (const auto& needle : needles) all = all && line.find(needle) != std::string::npos;
    n += all ? 1 : 0;
  }
  return n;
}

void figure(const std::string& line) {
  std::printf("[figures] %s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace funkhaus::encode::test
