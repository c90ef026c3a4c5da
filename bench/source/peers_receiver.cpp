// The peers' receiver: UDP with kernel receive stamps into the depacketizer, and the decoding
// of the kept access units (after the run, so the decoder's CPU never competes with a tool).
#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>

#include "funkhaus/bench/peers.h"
#include "funkhaus/bench/stamped_udp.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/clock.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
}

namespace funkhaus::bench {

namespace {

constexpr uint8_t kDynamicPayloadType = 96;  // funkhaus-net, rtph264pay and ffmpeg's rtp muxer
constexpr size_t kMaxDatagram = 65536;
constexpr int kReceiveBuffer = 8 << 20;

struct AvDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
  void operator()(AVFrame* f) const { av_frame_free(&f); }
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
template <class T>
using Av = std::unique_ptr<T, AvDeleter>;

}  // namespace

Result<std::unique_ptr<PeerReceiver>> PeerReceiver::open() {
  auto pair = openUdpPortPair(kReceiveBuffer, /*rtcp_buffer=*/0);
  if (!pair) return makeError("receiver: {}", pair.error().message);
  return std::unique_ptr<PeerReceiver>(
      new PeerReceiver(std::move(pair->rtp), std::move(pair->rtcp), pair->rtp_port));
}

PeerReceiver::~PeerReceiver() { stop(); }

void PeerReceiver::expectSsrc(uint32_t ssrc) {
  ssrc_.store(ssrc, std::memory_order_relaxed);
  ssrc_set_.store(true, std::memory_order_release);
}

void PeerReceiver::start() {
  if (thread_.joinable()) std::abort();  // started twice
  buffer_.resize(kMaxDatagram);
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void PeerReceiver::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void PeerReceiver::run() {
  pollfd fds[2] = {{rtp_.get(), POLLIN, 0}, {rtcp_.get(), POLLIN, 0}};
  while (!stop_.load(std::memory_order_relaxed)) {
    if (poll(fds, 2, 50) <= 0) continue;
    if (fds[0].revents != 0) readRtp();
    if (fds[1].revents != 0)  // sender reports: not needed, the barcode carries the time
      while (recv(rtcp_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT) >= 0) {
      }
  }
}

void PeerReceiver::readRtp() {
  while (const auto d = receiveStamped(rtp_.get(), buffer_)) {
    // The stamp is CLOCK_REALTIME; the offset read now is microseconds after it.
    const int64_t real_minus_mono = realtimeMinusMonotonicNs();
    if (d->truncated) {
      ++malformed_;
      continue;
    }
    uint64_t stamp_ns = 0;
    if (d->realtime_ns != 0)
      stamp_ns = static_cast<uint64_t>(static_cast<int64_t>(d->realtime_ns) - real_minus_mono);
    if (stamp_ns == 0) stamp_ns = monotonicNs();
    const std::span<const uint8_t> datagram(buffer_.data(), d->size);
    auto h = parseRtpHeader(datagram);
    if (!h) {
      ++malformed_;
      continue;
    }
    if (h->payload_type != kDynamicPayloadType) {
      ++foreign_;
      continue;
    }
    if (!ssrc_set_.load(std::memory_order_acquire)) expectSsrc(h->ssrc);  // the first sender
    if (h->ssrc != ssrc_.load(std::memory_order_relaxed)) {
      ++foreign_;
      continue;
    }
    if (auto unit = depacketizer_.push(*h, datagram, stamp_ns)) {
      units_.push_back(std::move(*unit));
      units_seen_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

Result<std::vector<DecodedUnit>> decodeUnits(std::span<const AccessUnit> units) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
  if (codec == nullptr) return makeError("libavcodec has no H.264 decoder");
  Av<AVCodecContext> context(avcodec_alloc_context3(codec));
  Av<AVPacket> packet(av_packet_alloc());
  Av<AVFrame> frame(av_frame_alloc());
  if (!context || !packet || !frame) return makeError("libavcodec: out of memory");
  // One picture per access unit, at once: no frame threading.
  context->flags |= AV_CODEC_FLAG_LOW_DELAY;
  context->thread_type = FF_THREAD_SLICE;
  context->thread_count = 2;
  if (avcodec_open2(context.get(), codec, nullptr) < 0)
    return makeError("avcodec_open2(h264) failed");
  std::vector<DecodedUnit> out;
  out.reserve(units.size());
  std::vector<uint8_t> padded;
  for (const AccessUnit& u : units) {
    DecodedUnit d;
    d.last_packet_ns = u.last_packet_ns;
    padded.assign(u.annexb.begin(), u.annexb.end());
    padded.resize(u.annexb.size() + AV_INPUT_BUFFER_PADDING_SIZE, 0);
    packet->data = padded.data();
    packet->size = static_cast<int>(u.annexb.size());
    const int sent = avcodec_send_packet(context.get(), packet.get());
    packet->data = nullptr;
    packet->size = 0;
    bool got = false;
    if (sent >= 0) {
      // Low delay: the unit's own picture, if any, comes out now.
      while (avcodec_receive_frame(context.get(), frame.get()) >= 0) {
        got = true;
        const bool corrupt = (frame->flags & AV_FRAME_FLAG_CORRUPT) != 0;
        if (corrupt ||
            (frame->format != AV_PIX_FMT_YUV420P && frame->format != AV_PIX_FMT_YUVJ420P)) {
          d.status = DecodedUnit::Status::kUndecodable;
        } else {
          auto read = capture::readBarcode(
              frame->data[0], static_cast<uint32_t>(frame->linesize[0]),
              static_cast<uint32_t>(frame->width), static_cast<uint32_t>(frame->height));
          d.status = read ? DecodedUnit::Status::kRead : DecodedUnit::Status::kUnreadable;
          if (read) d.frame_number = read->frame_number;
        }
        av_frame_unref(frame.get());
      }
    }
    if (!got) d.status = DecodedUnit::Status::kUndecodable;
    out.push_back(d);
  }
  return out;
}

}  // namespace funkhaus::bench
