// The one-process variant: the capture library's synthetic pattern, the encode library's
// Encoder, the net library's Annex-B splitting and RTP packetizer and a sendmmsg to the sink,
// called in sequence on one thread per frame of the capture worker's frame grid — the host a
// user would otherwise run as one process. Sends RTCP sender reports as funkhaus-net does.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/bench/latency.h"
#include "funkhaus/bench/variant.h"
#include "funkhaus/capture/capture_worker.h"
#include "funkhaus/capture/frame_clock.h"
#include "funkhaus/capture/synthetic_pattern.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/media/nal.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/encode/encode_worker.h"
#include "funkhaus/encode/encoder.h"
#include "funkhaus/net/net_worker.h"
#include "funkhaus/net/rtsp/rtcp.h"
#include "funkhaus/net/rtsp/rtp_packetizer.h"

namespace funkhaus::bench {

namespace {

// As funkhaus-net: RTP packets per sendmmsg, sender reports once a second, the loop wakes at
// least every 50 ms (capture worker).
constexpr size_t kMaxBatch = 64;
constexpr uint64_t kReportIntervalNs = 1'000'000'000;
constexpr uint64_t kIdleSliceNs = 50'000'000;

// What the sending side knows of each frame; compared with what the sink derived afterwards.
struct FrameTruth {
  uint32_t rtp_timestamp = 0;
  uint64_t capture_ns = 0;
  uint64_t encode_start_ns = 0;  // encoder.encode() called
  uint64_t encoded_ns = 0;       // its access unit came out
  uint64_t sent_ns = 0;          // the last sendmmsg of the frame returned
};

// A frame-sized buffer the encoder reads in place, and whether the encoder let go of it.
struct PictureBuffer {
  std::unique_ptr<std::byte, decltype(&std::free)> data{nullptr, &std::free};
  std::shared_ptr<std::atomic<bool>> released = std::make_shared<std::atomic<bool>>(true);
};

class SingleThreadVariant : public Variant {
 public:
  explicit SingleThreadVariant(const BenchSettings& settings) : settings_(settings) {}
  ~SingleThreadVariant() override { (void)stop(); }

  const char* name() const override { return "one process, one thread"; }

  Result<void> start(RtpSink& sink) override {
    auto config = hostConfig(settings_);
    if (!config) return config.error();
    // The arguments funkhausd gives the workers, parsed by the workers' own parsers.
    auto capture_args = workerArgv("capture", *config);
    auto capture_argv = argvOf(capture_args);
    auto capture =
        capture::parseCaptureOptions(static_cast<int>(capture_args.size()), capture_argv.data());
    if (!capture) return makeError("capture options: {}", capture.error().message);
    auto encode_args = workerArgv("encode", *config);
    auto encode_argv = argvOf(encode_args);
    auto encode = encode::parseArguments(static_cast<int>(encode_args.size()), encode_argv.data());
    if (!encode) return makeError("encode options: {}", encode.error().message);
    auto net_args = workerArgv("net", *config);
    auto net_argv = argvOf(net_args);
    auto net = net::parseNetOptions(static_cast<int>(net_args.size()), net_argv.data());
    if (!net || !net->has_value()) return makeError("net options: bad arguments");
    mtu_ = (*net)->rtsp.mtu;
    fps_ = capture->fps;

    auto pattern = capture::SyntheticPattern::create(capture->source.width, capture->source.height);
    if (!pattern) return makeError("synthetic pattern: {}", pattern.error().message);
    pattern_.emplace(std::move(*pattern));
    const size_t bytes = (pattern_->frameBytes() + 4095) / 4096 * 4096;
    for (PictureBuffer& b : buffers_) {
      b.data.reset(static_cast<std::byte*>(std::aligned_alloc(4096, bytes)));
      if (!b.data) return makeError("cannot allocate a {}-byte frame buffer", bytes);
      std::memset(b.data.get(), 0, bytes);
    }
    encode::routeLibavLogToSpdlog();
    auto encoder = encode::Encoder::create(encode->config);
    if (!encoder) return makeError("encoder: {}", encoder.error().message);
    encoder_.emplace(std::move(*encoder));
    const auto codec = media::codecFromId(static_cast<uint32_t>(encoder_->codec()));
    if (!codec)
      return makeError("encoder codec {} unknown to net", static_cast<uint32_t>(encoder_->codec()));
    codec_ = *codec;

    for (UniqueFd* fd : {&rtp_, &rtcp_}) {
      fd->reset(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (!fd->valid() || bind(fd->get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        return makeError("UDP socket on 127.0.0.1: {}", std::strerror(errno));
    }
    dest_.sin_family = AF_INET;
    dest_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dest_.sin_port = htons(sink.rtpPort());
    rtcp_dest_ = dest_;
    rtcp_dest_.sin_port = htons(sink.rtcpPort());
    std::random_device random;
    ssrc_ = random();
    offset_ = random();
    sequence_ = random() & 0x7FFF;
    sink.expectSsrc(ssrc_);
    truth_.reserve(1 << 16);
    stop_.store(false);
    thread_ = std::thread([this] { run(); });
    return {};
  }

  Result<std::vector<StageFigure>> stages() override { return stageFigures(pages_); }

  std::vector<ProcessCpu> cpu() const override {
    return {{"bench (pipeline and sink)", processCpuNs(0)}};
  }

  Result<void> stop() override {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    encoder_.reset();  // lets go of the last picture before the buffers go
    if (!error_.empty()) return makeError("{}", error_);
    return {};
  }

  std::vector<std::string> notes(const RtpSink& sink, uint64_t from_ns,
                                 uint64_t to_ns) const override {
    std::vector<std::string> out;
    out.push_back(
        fmt::format("frames captured {}, encode errors {}, short sends {}, missed deadlines {}",
                    truth_.size(), encode_errors_, short_sends_, missed_));
    // How the x264 encode alone costs per frame here (libavcodec call, in place, one frame).
    std::vector<uint64_t> encode_ns;
    for (const FrameTruth& t : truth_)
      if (t.capture_ns >= from_ns && t.capture_ns < to_ns && t.encoded_ns > t.encode_start_ns)
        encode_ns.push_back(t.encoded_ns - t.encode_start_ns);
    const Percentiles e = percentilesOf(encode_ns);
    out.push_back(fmt::format(
        "encoder.encode() alone (libx264 via libavcodec, called -> access unit out) in the "
        "window: p50 {:.2f} ms, p99 {:.2f} ms, mean {:.2f} ms over {} frames",
        e.p50_ms, e.p99_ms, e.mean_ms, e.count));
    // The sink's method checked against what this variant knows exactly.
    const auto offset = estimateOffset(sink.reports());
    if (!offset) {
      out.push_back("mapping check: no sender report reached the sink");
      return out;
    }
    std::map<uint32_t, const FrameTruth*> by_ts;
    for (const FrameTruth& t : truth_) by_ts[t.rtp_timestamp] = &t;
    int64_t worst_capture = 0;
    std::vector<uint64_t> stamp_before_sent;
    size_t matched = 0, stamp_after_sent = 0;
    for (const SinkFrame& f : sink.frames()) {
      const auto it = by_ts.find(f.rtp_timestamp);
      if (it == by_ts.end() || it->second->sent_ns == 0) continue;
      ++matched;
      const int64_t error =
          static_cast<int64_t>(monotonicOfRtp(f.rtp_timestamp, offset->offset, f.last_packet_ns)) -
          static_cast<int64_t>(it->second->capture_ns);
      worst_capture = std::max(worst_capture, error < 0 ? -error : error);
      if (f.last_packet_ns <= it->second->sent_ns)
        stamp_before_sent.push_back(it->second->sent_ns - f.last_packet_ns);
      else
        ++stamp_after_sent;
    }
    out.push_back(fmt::format(
        "mapping check: RTP offset {} of {} sender reports agree (spread {} ticks, true offset "
        "{}); capture time recovered from the RTP timestamp within {:.1f} us of the true one over "
        "{} frames",
        offset->agreeing, offset->reports, offset->spread_ticks,
        offset->offset == offset_ ? "found" : "MISSED", static_cast<double>(worst_capture) / 1e3,
        matched));
    const Percentiles s = percentilesOf(stamp_before_sent);
    out.push_back(fmt::format(
        "stamp check: the kernel stamp of the last packet precedes sendmmsg's return by p50 "
        "{:.1f} us, p99 {:.1f} us ({} frames); later than the return: {} frames",
        s.p50_ms * 1e3, s.p99_ms * 1e3, s.count, stamp_after_sent));
    return out;
  }

 private:
  void run() {
    const capture::FrameClock clock(fps_);
    StageStats stats[3];
    uint64_t next = clock.frameAt(monotonicNs()) + 1;
    uint64_t next_report_ns = 0;
    size_t turn = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
      const uint64_t deadline = clock.startOf(next);
      uint64_t now = monotonicNs();
      if (now < deadline) sleepUntilNs(std::min(deadline, now + kIdleSliceNs));
      now = monotonicNs();
      if (now < deadline) continue;
      const uint64_t number = clock.frameAt(now);
      if (number > next) missed_ += number - next;
      next = number + 1;

      // Capture: the pattern drawn into a buffer the encoder is done with.
      PictureBuffer& buffer = buffers_[turn++ % buffers_.size()];
      if (!buffer.released->load(std::memory_order_acquire)) {
        error_ = "the encoder still holds a picture two frames old";
        return;
      }
      pattern_->render({number, now}, buffer.data.get());
      FrameTruth truth;
      truth.capture_ns = now;
      truth.rtp_timestamp = net::rtpTimestamp(now, offset_);
      truth.encode_start_ns = monotonicNs();
      stats[0].onFrame(now, truth.encode_start_ns);

      // Encode, and in the sink callback the net stage: packetize and send.
      encode::Picture picture;
      picture.geometry = pattern_->geometry();
      picture.payload = std::span<const std::byte>(buffer.data.get(), pattern_->frameBytes());
      picture.capture_time_ns = now;
      buffer.released->store(false, std::memory_order_relaxed);
      picture.on_release = [flag = buffer.released] {
        flag->store(true, std::memory_order_release);
      };
      auto encoded = encoder_->encode(std::move(picture), [&](const encode::AccessUnit& au) {
        truth.encoded_ns = monotonicNs();
        stats[1].onFrame(au.capture_time_ns, truth.encoded_ns);
        const uint64_t sent = sendUnit(au);
        if (sent != 0) {
          truth.sent_ns = sent;
          stats[2].onFrame(au.capture_time_ns, sent);
        }
      });
      if (!encoded) ++encode_errors_;
      truth_.push_back(truth);
      const uint64_t done = monotonicNs();
      if (done >= next_report_ns) {
        sendReport();
        next_report_ns = done + kReportIntervalNs;
      }
      for (int i = 0; i < 3; ++i) stats[i].publish(pages_[i], done);
    }
  }

  // funkhaus-net's path for one access unit and one UDP viewer: split, keep parameter sets,
  // packetize, RTP headers, sendmmsg in batches. Returns the time the last batch was sent, or 0.
  uint64_t sendUnit(const encode::AccessUnit& au) {
    const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(au.data.data()),
                                        au.data.size());
    media::splitAnnexB(data, nals_);
    media::updateParameterSets(codec_, nals_, abi::kMaxParameterSetSize, sets_);
    if (!net::packetize(codec_, nals_, mtu_, fragments_) || fragments_.empty()) {
      ++short_sends_;
      return 0;
    }
    const uint32_t ts = net::rtpTimestamp(au.capture_time_ns, offset_);
    for (size_t at = 0; at < fragments_.size(); at += kMaxBatch) {
      const size_t count = std::min(kMaxBatch, fragments_.size() - at);
      for (size_t i = 0; i < count; ++i) {
        net::RtpFragment& f = fragments_[at + i];
        net::writeRtpHeader(headers_[i].data(), f.marker, net::kRtpPayloadType,
                            static_cast<uint16_t>(sequence_ + i), ts, ssrc_);
        iov_[i * 3] = {headers_[i].data(), net::kRtpHeaderSize};
        iov_[i * 3 + 1] = {f.prefix.data(), f.prefix_size};
        iov_[i * 3 + 2] = {const_cast<uint8_t*>(f.data.data()), f.data.size()};
        msgs_[i] = {};
        msgs_[i].msg_hdr.msg_name = &dest_;
        msgs_[i].msg_hdr.msg_namelen = sizeof dest_;
        msgs_[i].msg_hdr.msg_iov = &iov_[i * 3];
        msgs_[i].msg_hdr.msg_iovlen = 3;
      }
      sequence_ = (sequence_ + static_cast<uint32_t>(count)) & 0xFFFF;
      int sent = sendmmsg(rtp_.get(), msgs_.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
      if (sent < 0) sent = 0;
      for (int i = 0; i < sent; ++i)
        octets_ += fragments_[at + static_cast<size_t>(i)].payloadSize();
      packets_ += static_cast<uint32_t>(sent);
      if (static_cast<size_t>(sent) < count) {
        ++short_sends_;
        return 0;
      }
    }
    return monotonicNs();
  }

  // As funkhaus-net's sendReports(): wall clock first, then the RTP clock of the same instant.
  void sendReport() {
    timespec real{};
    clock_gettime(CLOCK_REALTIME, &real);
    const uint64_t now = monotonicNs();
    net::SenderReport sr;
    sr.ssrc = ssrc_;
    sr.ntp_time = net::ntpTime(real.tv_sec, real.tv_nsec);
    sr.rtp_time = net::rtpTimestamp(now, offset_);
    sr.packet_count = packets_;
    sr.octet_count = static_cast<uint32_t>(octets_);
    sr.cname = "funkhaus-pipeline-bench";
    uint8_t buffer[128];
    const size_t n = net::buildSenderReport(sr, buffer);
    if (n != 0)
      sendto(rtcp_.get(), buffer, n, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&rtcp_dest_),
             sizeof rtcp_dest_);
  }

  BenchSettings settings_;
  uint32_t fps_ = 60;
  uint32_t mtu_ = 1400;
  std::optional<capture::SyntheticPattern> pattern_;
  std::array<PictureBuffer, 2> buffers_;
  std::optional<encode::Encoder> encoder_;
  media::Codec codec_ = media::Codec::kH264;
  UniqueFd rtp_, rtcp_;
  sockaddr_in dest_{}, rtcp_dest_{};
  uint32_t ssrc_ = 0, offset_ = 0, sequence_ = 0, packets_ = 0;
  uint64_t octets_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  // The pipeline thread's, read by the main thread after join (pages: atomically, any time).
  std::vector<media::NalUnit> nals_;
  media::ParameterSets sets_;
  std::vector<net::RtpFragment> fragments_;
  std::array<std::array<uint8_t, net::kRtpHeaderSize>, kMaxBatch> headers_{};
  std::array<iovec, kMaxBatch * 3> iov_{};
  std::array<mmsghdr, kMaxBatch> msgs_{};
  std::vector<FrameTruth> truth_;
  uint64_t encode_errors_ = 0, short_sends_ = 0, missed_ = 0;
  std::string error_;
  std::array<abi::WorkerStatusPage, 3> pages_{};
};

}  // namespace

std::unique_ptr<Variant> makeSingleThreadVariant(const BenchSettings& settings) {
  return std::make_unique<SingleThreadVariant>(settings);
}

}  // namespace funkhaus::bench
