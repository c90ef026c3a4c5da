// StageStats: a time-ordered window of samples; nearest-rank percentiles (percentile.h) on a
// copy.
#include "funkhaus/common/stage_stats.h"

#include "funkhaus/common/percentile.h"

#include <algorithm>
#include <climits>

namespace funkhaus {

namespace {
constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kFpsOnly = UINT64_MAX;
constexpr uint64_t kPublishEveryNs = 250'000'000;
}  // namespace

StageStats::StageStats(uint64_t window_ns) : window_ns_(std::max(window_ns, kSecond)) {}

void StageStats::onFrame(uint64_t capture_ns, uint64_t done_ns, uint64_t stage_start_ns) {
  const uint64_t latency =
      capture_ns != 0 && capture_ns <= done_ns ? done_ns - capture_ns : kFpsOnly;
  const uint64_t stage =
      stage_start_ns != 0 && stage_start_ns <= done_ns ? done_ns - stage_start_ns : kFpsOnly;
  samples_.push_back({done_ns, latency, stage});
  expire(done_ns);
}

void StageStats::expire(uint64_t now_ns) {
  while (head_ < samples_.size() && samples_[head_].done_ns + window_ns_ < now_ns) ++head_;
  // Compact once the dead prefix dominates, so memory stays bounded by the window.
  if (head_ > 1024 && head_ * 2 > samples_.size()) {
    samples_.erase(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

StageStats::Snapshot StageStats::snapshot(uint64_t now_ns) {
  expire(now_ns);
  Snapshot s;
  scratch_.clear();
  uint64_t in_last_second = 0;
  for (size_t i = head_; i < samples_.size(); ++i) {
    if (samples_[i].done_ns + kSecond >= now_ns) ++in_last_second;
    if (samples_[i].latency_ns != kFpsOnly) scratch_.push_back(samples_[i].latency_ns);
  }
  s.fps_milli = in_last_second * 1000;
  s.samples = scratch_.size();
  if (!scratch_.empty()) {
    s.p50_ns = percentile(std::span<uint64_t>(scratch_), 0.50);
    s.p99_ns = percentile(std::span<uint64_t>(scratch_), 0.99);
  }
  scratch_.clear();
  for (size_t i = head_; i < samples_.size(); ++i) {
    if (samples_[i].stage_ns != kFpsOnly) scratch_.push_back(samples_[i].stage_ns);
  }
  s.stage_samples = scratch_.size();
  if (!scratch_.empty()) {
    s.stage_p50_ns = percentile(std::span<uint64_t>(scratch_), 0.50);
    s.stage_p99_ns = percentile(std::span<uint64_t>(scratch_), 0.99);
  }
  return s;
}

void StageStats::publish(abi::WorkerStatusPage& page, uint64_t now_ns) {
  if (now_ns < next_publish_ns_) return;
  next_publish_ns_ = now_ns + kPublishEveryNs;
  const Snapshot s = snapshot(now_ns);
  abi::storeRelaxed(page.fps_milli, s.fps_milli);
  abi::storeRelaxed(page.latency_p50_ns, s.p50_ns);
  abi::storeRelaxed(page.latency_p99_ns, s.p99_ns);
  abi::storeRelaxed(page.stage_p50_ns, s.stage_p50_ns);
  abi::storeRelaxed(page.stage_p99_ns, s.stage_p99_ns);
}

}  // namespace funkhaus
