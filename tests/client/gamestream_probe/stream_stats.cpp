// gamestream_probe's measurements (stream_stats.h).
#include "stream_stats.h"

#include <time.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <span>

#include "funkhaus/common/percentile.h"

namespace funkhaus::probe {

namespace {

int64_t clockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Three decimals are plenty for milliseconds.
double rounded(double ms) { return std::round(ms * 1000.0) / 1000.0; }

}  // namespace

Timestamps now() {
  return Timestamps{clockNs(CLOCK_MONOTONIC), clockNs(CLOCK_REALTIME) / 1'000'000};
}

Json distribution(std::vector<double> samples) {
  Json j;
  j["p50"] = rounded(percentile(std::span<double>(samples), 0.5));
  j["p99"] = rounded(percentile(std::span<double>(samples), 0.99));
  j["max"] = samples.empty() ? 0.0 : rounded(*std::max_element(samples.begin(), samples.end()));
  j["count"] = samples.size();
  return j;
}

void StreamStats::setStart(Timestamps start) {
  std::lock_guard lock(mutex_);
  start_ = start;
  started_ = true;
}

void StreamStats::onDecodeUnit(int frame_number, bool idr, uint16_t host_latency_tenth_ms,
                               double assembly_ms) {
  std::lock_guard lock(mutex_);
  ++received_;
  if (idr) ++idr_;
  if (last_frame_number_) {
    if (frame_number > *last_frame_number_)
      lost_ += static_cast<uint64_t>(frame_number - *last_frame_number_ - 1);
    else
      ++resets_;
  }
  last_frame_number_ = frame_number;
  delivered_.insert(frame_number);
  if (host_latency_tenth_ms == 0)
    ++host_latency_unknown_;
  else
    host_latency_ms_.push_back(host_latency_tenth_ms / 10.0);
  assembly_ms_.push_back(assembly_ms);
}

void StreamStats::onDecodeError(const std::string& message, bool corrupt_picture) {
  std::lock_guard lock(mutex_);
  ++decode_errors_;
  if (corrupt_picture) ++corrupt_;
  last_decode_error_ = message;
}

void StreamStats::onPicture(Timestamps at, double receive_to_decoded_ms,
                            const std::optional<capture::BarcodeData>& barcode,
                            const std::string& barcode_error, double mean_luma) {
  std::lock_guard lock(mutex_);
  ++decoded_;
  if (keep_pictures_) {
    picture_decoded_ns_.push_back(at.monotonic_ns);
    picture_mean_luma_.push_back(std::round(mean_luma * 10) / 10);
  }
  receive_to_decoded_ms_.push_back(receive_to_decoded_ms);
  if (!first_picture_) first_picture_ = at;
  if (last_picture_) {
    const double gap = static_cast<double>(at.monotonic_ns - last_picture_->monotonic_ns) / 1e6;
    longest_gap_ms_ = std::max(longest_gap_ms_, gap);
    if (gap > kPauseListMs) pauses_.emplace_back(last_picture_->realtime_ms, gap);
  }
  last_picture_ = at;
  if (barcode) {
    ++barcode_ok_;
    if (last_barcode_ && barcode->frame_number > last_barcode_->frame_number + 1)
      barcode_skipped_ += barcode->frame_number - last_barcode_->frame_number - 1;
    last_barcode_ = barcode;
    capture_to_decoded_ms_.push_back(
        static_cast<double>(at.monotonic_ns - static_cast<int64_t>(barcode->capture_ns)) / 1e6);
  } else {
    ++barcode_failed_;
    last_barcode_error_ = barcode_error;
  }
}

void StreamStats::onAudioPacket(Timestamps at, bool lost, int samples) {
  std::lock_guard lock(mutex_);
  ++audio_packets_;
  if (lost) ++audio_lost_;
  audio_samples_ += static_cast<uint64_t>(std::max(samples, 0));
  if (!first_audio_) first_audio_ = at;
  last_audio_ = at;
  if (keep_audio_packets_) {
    audio_received_ns_.push_back(at.monotonic_ns);
    audio_packet_samples_.push_back(samples);
  }
}

void StreamStats::onAudioDecodeError(const std::string& message) {
  std::lock_guard lock(mutex_);
  ++audio_decode_errors_;
  audio_last_error_ = message;
}

void StreamStats::setAudioLayout(Json layout) {
  std::lock_guard lock(mutex_);
  audio_layout_ = std::move(layout);
}

void StreamStats::keepAudioPackets() {
  std::lock_guard lock(mutex_);
  keep_audio_packets_ = true;
}

void StreamStats::keepPictures() {
  std::lock_guard lock(mutex_);
  keep_pictures_ = true;
}

uint64_t StreamStats::decodedFrames() const {
  std::lock_guard lock(mutex_);
  return decoded_;
}

Json StreamStats::secondLine(int t) {
  std::lock_guard lock(mutex_);
  Json j;
  j["t"] = t;
  j["decoded"] = decoded_;
  j["fps"] = decoded_ - decoded_at_last_line_;
  j["received"] = received_;
  j["lost"] = lost_;
  j["idr"] = idr_;
  j["decode_errors"] = decode_errors_;
  j["barcode_ok"] = barcode_ok_;
  j["realtime_ms"] = now().realtime_ms;
  decoded_at_last_line_ = decoded_;
  return j;
}

Json StreamStats::fecFrames(const std::vector<uint32_t>& dropped_frames) const {
  std::lock_guard lock(mutex_);
  std::map<int64_t, uint64_t> drops;  // frame number -> dropped datagrams
  for (uint32_t f : dropped_frames) ++drops[static_cast<int64_t>(f)];
  const int64_t last = delivered_.empty() ? -1 : *delivered_.rbegin();
  uint64_t recovered = 0, failed = 0, pending = 0, following = 0;
  std::map<uint64_t, uint64_t> recovered_by_drops;  // dropped datagrams -> recovered frames
  Json failed_list = Json::array();
  for (const auto& [frame, count] : drops) {
    if (frame <= INT32_MAX && delivered_.contains(static_cast<int>(frame))) {
      ++recovered;
      ++recovered_by_drops[count];
    } else if (frame > last) {
      ++pending;
    } else {
      ++failed;
      // The frame before never arrived either: the library may have discarded this one while
      // waiting for an IDR frame, whatever its drops.
      const bool after_loss =
          frame - 1 <= INT32_MAX && !delivered_.contains(static_cast<int>(frame - 1));
      if (after_loss) ++following;
      if (failed_list.size() < 20)
        failed_list.push_back(
            Json{{"frame", frame}, {"dropped", count}, {"previous_missing", after_loss}});
    }
  }
  Json by_drops = Json::object();
  for (const auto& [count, frames] : recovered_by_drops) by_drops[std::to_string(count)] = frames;
  uint64_t missing = 0;
  if (!delivered_.empty()) {
    const int first = *delivered_.begin();
    missing = static_cast<uint64_t>(last - first + 1) - delivered_.size();
  }
  return Json{{"datagrams_dropped", dropped_frames.size()},
              {"frames_with_drops", drops.size()},
              {"frames_recovered", recovered},
              {"frames_failed", failed},
              {"frames_failed_after_missing", following},
              {"frames_pending", pending},
              {"frames_missing", missing},
              {"recovered_by_dropped", by_drops},
              {"failed_frames", failed_list}};
}

Json StreamStats::summary(Timestamps end) const {
  std::lock_guard lock(mutex_);
  Json j;
  j["first_frame_ms"] = nullptr;
  if (first_picture_ && started_)
    j["first_frame_ms"] =
        rounded(static_cast<double>(first_picture_->monotonic_ns - start_.monotonic_ns) / 1e6);
  j["frames_received"] = received_;
  j["frames_decoded"] = decoded_;
  j["frames_lost"] = lost_;
  j["frame_number_resets"] = resets_;
  j["idr_frames"] = idr_;
  j["decode_errors"] = decode_errors_;
  j["corrupt_frames"] = corrupt_;
  j["last_decode_error"] = last_decode_error_.empty() ? Json(nullptr) : Json(last_decode_error_);
  Json host = distribution(host_latency_ms_);
  host["unknown"] = host_latency_unknown_;
  j["host_latency_ms"] = host;
  j["frame_assembly_ms"] = distribution(assembly_ms_);
  j["receive_to_decoded_ms"] = distribution(receive_to_decoded_ms_);
  // Decoded fps over the span from the first decoded frame to the end of streaming.
  double fps = 0;
  if (first_picture_ && end.monotonic_ns > first_picture_->monotonic_ns)
    fps = static_cast<double>(decoded_) /
          (static_cast<double>(end.monotonic_ns - first_picture_->monotonic_ns) / 1e9);
  j["fps"] = std::round(fps * 100) / 100;
  // Pauses: gaps between decoded frames, and the one from the last frame to the end.
  Json pauses = Json::array();
  for (const auto& [start_ms, duration] : pauses_)
    pauses.push_back(
        Json{{"start_ms", start_ms}, {"duration_ms", rounded(duration)}, {"until_end", false}});
  double longest = longest_gap_ms_;
  if (last_picture_) {
    const double tail = static_cast<double>(end.monotonic_ns - last_picture_->monotonic_ns) / 1e6;
    longest = std::max(longest, tail);
    if (tail > kPauseListMs)
      pauses.push_back(Json{{"start_ms", last_picture_->realtime_ms},
                            {"duration_ms", rounded(tail)},
                            {"until_end", true}});
  }
  j["longest_pause_ms"] = rounded(longest);
  j["pauses"] = pauses;
  Json barcode;
  barcode["ok"] = barcode_ok_;
  barcode["failed"] = barcode_failed_;
  barcode["last"] = last_barcode_ ? Json{{"frame", last_barcode_->frame_number},
                                         {"capture_ns", last_barcode_->capture_ns}}
                                  : Json(nullptr);
  barcode["last_error"] = last_barcode_error_.empty() ? Json(nullptr) : Json(last_barcode_error_);
  barcode["skipped"] = barcode_skipped_;
  barcode["capture_to_decoded_ms"] = distribution(capture_to_decoded_ms_);
  j["barcode"] = barcode;
  Json audio{
      {"packets", audio_packets_},
      {"lost", audio_lost_},
      {"decode_errors", audio_decode_errors_},
      {"last_decode_error", audio_last_error_.empty() ? Json(nullptr) : Json(audio_last_error_)},
      {"samples", audio_samples_},
      {"layout", audio_layout_},
      {"first_packet_ns", first_audio_ ? Json(first_audio_->monotonic_ns) : Json(nullptr)},
      {"last_packet_ns", last_audio_ ? Json(last_audio_->monotonic_ns) : Json(nullptr)}};
  if (keep_audio_packets_) {
    audio["packet_received_ns"] = audio_received_ns_;
    audio["packet_samples"] = audio_packet_samples_;
  }
  j["audio"] = audio;
  if (keep_pictures_)
    j["pictures"] = Json{{"decoded_ns", picture_decoded_ns_}, {"mean_luma", picture_mean_luma_}};
  return j;
}

}  // namespace funkhaus::probe
