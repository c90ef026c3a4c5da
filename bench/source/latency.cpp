// Percentiles and the RTP clock mapping.
#include "funkhaus/bench/latency.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <span>

#include "funkhaus/common/percentile.h"

namespace funkhaus::bench {

namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;
constexpr uint64_t kRtpClockRate = 90'000;
constexpr uint64_t kUnixToNtpSeconds = 2'208'988'800;  // 1900 -> 1970

double toMs(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

// CLOCK_REALTIME nanoseconds of an NTP 32.32 time. The sender truncated its nanoseconds to the
// fraction, so round the fraction up to get them back exactly.
int64_t realtimeOfNtp(uint64_t ntp) {
  const int64_t seconds = static_cast<int64_t>(ntp >> 32) - static_cast<int64_t>(kUnixToNtpSeconds);
  const uint64_t fraction = ntp & 0xFFFFFFFFu;
  const uint64_t ns = (fraction * kNsPerSecond + 0xFFFFFFFFu) >> 32;
  return seconds * static_cast<int64_t>(kNsPerSecond) + static_cast<int64_t>(ns);
}

}  // namespace

Percentiles percentilesOf(std::vector<uint64_t> v) {
  Percentiles p;
  p.count = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  const std::span<const uint64_t> sorted(v);
  p.p50_ms = toMs(percentileOfSorted(sorted, 0.50));
  p.p99_ms = toMs(percentileOfSorted(sorted, 0.99));
  p.max_ms = toMs(v.back());
  const long double sum = std::accumulate(v.begin(), v.end(), 0.0L);
  p.mean_ms = static_cast<double>(sum / static_cast<long double>(v.size()) / 1e6L);
  return p;
}

uint64_t ticksOf(uint64_t ns) {
  return ns / kNsPerSecond * kRtpClockRate + ns % kNsPerSecond * kRtpClockRate / kNsPerSecond;
}

uint64_t tickStartNs(uint64_t ticks) {
  const uint64_t rest = ticks % kRtpClockRate;
  return ticks / kRtpClockRate * kNsPerSecond +
         (rest * kNsPerSecond + kRtpClockRate - 1) / kRtpClockRate;
}

uint32_t offsetOfReport(const SinkReport& r) {
  const int64_t monotonic = realtimeOfNtp(r.report.ntp_time) - r.realtime_minus_monotonic_ns;
  return r.report.rtp_time - static_cast<uint32_t>(ticksOf(static_cast<uint64_t>(monotonic)));
}

std::optional<OffsetEstimate> estimateOffset(std::span<const SinkReport> reports) {
  if (reports.empty()) return std::nullopt;
  std::map<uint32_t, size_t> votes;
  for (const SinkReport& r : reports) ++votes[offsetOfReport(r)];
  OffsetEstimate e;
  e.reports = reports.size();
  for (const auto& [offset, count] : votes)
    if (count > e.agreeing) {
      e.offset = offset;
      e.agreeing = count;
    }
  for (const auto& [offset, count] : votes) {
    const int32_t d = static_cast<int32_t>(offset - e.offset);
    e.spread_ticks = std::max(e.spread_ticks, static_cast<uint32_t>(d < 0 ? -int64_t{d} : d));
  }
  return e;
}

uint64_t monotonicOfRtp(uint32_t rtp_timestamp, uint32_t offset, uint64_t near_ns) {
  const uint64_t near_ticks = ticksOf(near_ns);
  const uint32_t low = rtp_timestamp - offset;
  const int32_t behind = static_cast<int32_t>(static_cast<uint32_t>(near_ticks) - low);
  const uint64_t ticks = near_ticks - static_cast<uint64_t>(static_cast<int64_t>(behind));
  const uint64_t start = tickStartNs(ticks);
  return start + (tickStartNs(ticks + 1) - start) / 2;
}

FrameLatencies latenciesOf(std::span<const SinkFrame> frames, uint32_t offset, uint64_t from_ns,
                           uint64_t to_ns) {
  FrameLatencies out;
  for (const SinkFrame& f : frames) {
    const uint64_t capture = monotonicOfRtp(f.rtp_timestamp, offset, f.last_packet_ns);
    if (capture < from_ns || capture >= to_ns) continue;
    if (!f.complete) {
      ++out.incomplete;
      continue;
    }
    if (f.last_packet_ns < capture) {
      ++out.before_capture;
      continue;
    }
    out.frames.push_back({f.rtp_timestamp, capture, f.last_packet_ns - capture});
  }
  std::sort(out.frames.begin(), out.frames.end(), [](const FrameLatency& a, const FrameLatency& b) {
    return a.capture_ns < b.capture_ns;
  });
  return out;
}

}  // namespace funkhaus::bench
