// RtpSink: parsing of RTP headers and sender reports, and the UDP reading thread.
#include "funkhaus/bench/rtp_sink.h"

#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <cstdlib>

#include "funkhaus/bench/stamped_udp.h"
#include "funkhaus/common/clock.h"

namespace funkhaus::bench {

namespace {

constexpr uint8_t kDynamicPayloadType = 96;  // what funkhaus-net announces in its SDP
constexpr uint8_t kRtcpSenderReport = 200;
constexpr size_t kMaxDatagram = 65536;
constexpr int kReceiveBuffer = 4 << 20;  // capped by net.core.rmem_max; 8 Mbit/s needs far less

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

uint64_t timespecNs(const timespec& ts) {
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

Result<RtpHeader> parseRtpHeader(std::span<const uint8_t> d) {
  if (d.size() < 12)
    return makeError("RTP datagram of {} bytes is shorter than a header", d.size());
  if ((d[0] >> 6) != 2) return makeError("RTP version {} (expected 2)", d[0] >> 6);
  RtpHeader h;
  h.marker = (d[1] & 0x80) != 0;
  h.payload_type = d[1] & 0x7F;
  h.sequence = get16(&d[2]);
  h.timestamp = get32(&d[4]);
  h.ssrc = get32(&d[8]);
  size_t offset = 12 + size_t{4} * (d[0] & 0x0F);
  if (offset > d.size()) return makeError("RTP CSRC list runs past the datagram");
  if ((d[0] & 0x10) != 0) {
    if (offset + 4 > d.size()) return makeError("RTP header extension runs past the datagram");
    offset += 4 + size_t{4} * get16(&d[offset + 2]);
    if (offset > d.size()) return makeError("RTP header extension runs past the datagram");
  }
  size_t padding = 0;
  if ((d[0] & 0x20) != 0) {
    if (offset == d.size()) return makeError("RTP padding flag without padding bytes");
    padding = d.back();
    if (padding == 0 || offset + padding > d.size())
      return makeError("RTP padding of {} bytes does not fit the datagram", padding);
  }
  h.payload_offset = offset;
  h.payload_size = d.size() - offset - padding;
  return h;
}

Result<std::optional<SenderReportFields>> findSenderReport(std::span<const uint8_t> d) {
  if (d.empty()) return makeError("empty RTCP datagram");
  // The whole compound must add up before anything in it counts.
  std::optional<SenderReportFields> first;
  size_t at = 0;
  while (at < d.size()) {
    const size_t left = d.size() - at;
    if (left < 4) return makeError("RTCP: {} trailing bytes", left);
    const uint8_t* p = d.data() + at;
    if ((p[0] >> 6) != 2) return makeError("RTCP version {} (expected 2)", p[0] >> 6);
    const size_t length = (size_t{get16(p + 2)} + 1) * 4;
    if (length > left) return makeError("RTCP packet of {} bytes runs past the datagram", length);
    if (p[1] == kRtcpSenderReport) {
      if (length < 28) return makeError("RTCP sender report of {} bytes (at least 28)", length);
      if (!first) {
        first = SenderReportFields{};
        first->ssrc = get32(p + 4);
        first->ntp_time = uint64_t{get32(p + 8)} << 32 | get32(p + 12);
        first->rtp_time = get32(p + 16);
      }
    }
    at += length;
  }
  return first;
}

int64_t realtimeMinusMonotonicNs() {
  timespec real{}, mono{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  return static_cast<int64_t>(timespecNs(real)) - static_cast<int64_t>(timespecNs(mono));
}

Result<std::unique_ptr<RtpSink>> RtpSink::open() {
  auto pair = openUdpPortPair(kReceiveBuffer, kReceiveBuffer);
  if (!pair) return makeError("RTP sink: {}", pair.error().message);
  return std::unique_ptr<RtpSink>(
      new RtpSink(std::move(pair->rtp), std::move(pair->rtcp), pair->rtp_port));
}

RtpSink::~RtpSink() { stop(); }

void RtpSink::expectSsrc(uint32_t ssrc) {
  ssrc_.store(ssrc, std::memory_order_relaxed);
  ssrc_set_.store(true, std::memory_order_release);
}

void RtpSink::start() {
  if (thread_.joinable()) std::abort();  // started twice
  buffer_.resize(kMaxDatagram);
  frames_.reserve(1 << 16);
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void RtpSink::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void RtpSink::checkStopped() const {
  if (thread_.joinable()) std::abort();  // results read while the sink's thread writes them
}

const std::vector<SinkFrame>& RtpSink::frames() const {
  checkStopped();
  return frames_;
}
const std::vector<SinkReport>& RtpSink::reports() const {
  checkStopped();
  return reports_;
}
const SinkCounters& RtpSink::counters() const {
  checkStopped();
  return counters_;
}

void RtpSink::run() {
  pollfd fds[2] = {{rtp_.get(), POLLIN, 0}, {rtcp_.get(), POLLIN, 0}};
  while (!stop_.load(std::memory_order_relaxed)) {
    if (poll(fds, 2, 50) <= 0) continue;
    if (fds[0].revents != 0) readRtp();
    if (fds[1].revents != 0) readRtcp();
  }
}

void RtpSink::readRtp() {
  const int64_t real_minus_mono = realtimeMinusMonotonicNs();
  while (const auto d = receiveStamped(rtp_.get(), buffer_)) {
    const uint64_t read_ns = monotonicNs();
    if (d->truncated) {
      ++counters_.malformed;
      continue;
    }
    uint64_t stamp_ns = 0;
    if (d->realtime_ns != 0)
      stamp_ns = static_cast<uint64_t>(static_cast<int64_t>(d->realtime_ns) - real_minus_mono);
    if (stamp_ns == 0) {
      ++counters_.unstamped;
      stamp_ns = read_ns;
    }
    onPacket(std::span<const uint8_t>(buffer_.data(), d->size), stamp_ns, read_ns);
  }
}

void RtpSink::onPacket(std::span<const uint8_t> datagram, uint64_t stamp_ns, uint64_t read_ns) {
  auto h = parseRtpHeader(datagram);
  if (!h) {
    ++counters_.malformed;
    return;
  }
  if (!ssrc_set_.load(std::memory_order_acquire) ||
      h->ssrc != ssrc_.load(std::memory_order_relaxed) || h->payload_type != kDynamicPayloadType) {
    ++counters_.foreign;
    return;
  }
  ++counters_.packets;
  counters_.bytes += h->payload_size;
  bool gap = false;
  if (next_sequence_ && h->sequence != *next_sequence_) {
    ++counters_.sequence_gaps;
    gap = true;
  }
  next_sequence_ = static_cast<uint16_t>(h->sequence + 1);
  if (current_ && current_->rtp_timestamp != h->timestamp) {
    ++counters_.unended;  // the previous frame's marker packet was lost
    current_.reset();
  }
  if (!current_) {
    current_ = SinkFrame{};
    current_->rtp_timestamp = h->timestamp;
    current_first_sequence_ = h->sequence;
    current_gap_ = false;
  }
  // A gap before a frame's first packet may have taken that frame's head: incomplete too.
  current_gap_ = current_gap_ || gap;
  ++current_->packets;
  current_->bytes += h->payload_size;
  if (!h->marker) return;
  current_->last_packet_ns = stamp_ns;
  current_->read_ns = read_ns;
  current_->complete =
      !current_gap_ &&
      static_cast<uint16_t>(h->sequence - current_first_sequence_ + 1) == current_->packets;
  frames_.push_back(*current_);
  current_.reset();
  frames_seen_.fetch_add(1, std::memory_order_relaxed);
}

void RtpSink::readRtcp() {
  for (;;) {
    const ssize_t n = recv(rtcp_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) return;
    const int64_t real_minus_mono = realtimeMinusMonotonicNs();
    if (static_cast<size_t>(n) > buffer_.size()) {
      ++counters_.malformed;
      continue;
    }
    auto sr = findSenderReport(std::span<const uint8_t>(buffer_.data(), static_cast<size_t>(n)));
    if (!sr) {
      ++counters_.malformed;
      continue;
    }
    if (!sr->has_value() || !ssrc_set_.load(std::memory_order_acquire) ||
        (*sr)->ssrc != ssrc_.load(std::memory_order_relaxed))
      continue;
    reports_.push_back({**sr, real_minus_mono});
    ++counters_.reports;
    reports_seen_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace funkhaus::bench
