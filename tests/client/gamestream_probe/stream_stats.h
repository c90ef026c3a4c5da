// StreamStats: what gamestream_probe measures of one stream (frames, losses, latencies, pauses,
// barcodes, audio) and its JSON reports. Written by moonlight-common-c's receive threads, read by
// the probe's main and ticker threads: every member function locks.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "funkhaus/capture/barcode.h"

namespace funkhaus::probe {

using Json = nlohmann::ordered_json;

// A gap between decoded frames longer than this is listed as a pause.
inline constexpr int64_t kPauseListMs = 100;

struct Timestamps {
  int64_t monotonic_ns = 0;  // CLOCK_MONOTONIC (also the barcode's clock)
  int64_t realtime_ms = 0;   // CLOCK_REALTIME, for matching with events of a test
};
Timestamps now();

class StreamStats {
 public:
  // When LiStartConnection was called (first_frame_ms counts from here).
  void setStart(Timestamps start);

  // One access unit from the library, before decoding.
  void onDecodeUnit(int frame_number, bool idr, uint16_t host_latency_tenth_ms, double assembly_ms);
  // A decode failure (the probe then asks for an IDR frame).
  void onDecodeError(const std::string& message, bool corrupt_picture);
  // A decoded picture and its barcode (or why it had none).
  void onPicture(Timestamps at, double receive_to_decoded_ms,
                 const std::optional<capture::BarcodeData>& barcode,
                 const std::string& barcode_error, double mean_luma = -1);
  // An audio packet handed over by the library at `at` (`lost`: its placeholder for a missing
  // one, which libopus conceals), decoded to `samples` per channel (0 when decoding failed).
  void onAudioPacket(Timestamps at, bool lost, int samples);
  void onAudioDecodeError(const std::string& message);
  // What the renderer's init was given (the negotiated layout), for the summary.
  void setAudioLayout(Json layout);
  // Keep every audio packet's receive time and sample count for the summary.
  void keepAudioPackets();
  // Keep every decoded picture's time and mean luma for the summary.
  void keepPictures();

  // The per-second line: elapsed seconds `t`, totals and the frames decoded since the last line.
  Json secondLine(int t);
  // The stream's part of the summary, `end` being when streaming stopped.
  Json summary(Timestamps end) const;

  uint64_t decodedFrames() const;

  // How the frames hit by the proxy's drops fared, given the frameIndex of every dropped video
  // datagram: {"datagrams_dropped", "frames_with_drops", "frames_recovered" (a decode unit of
  // that frame number arrived), "frames_failed" (none did), "frames_pending" (after the last
  // decode unit: the stream ended first), "frames_missing" (frame numbers between the first and
  // the last decode unit that never arrived, with or without drops), "frames_failed_after_missing"
  // (failed frames whose previous frame is missing too: perhaps discarded while the library
  // waited for an IDR), "recovered_by_dropped" ({"k": recovered frames that lost k datagrams}),
  // "failed_frames" (up to 20 failed frames with their drop counts)}.
  Json fecFrames(const std::vector<uint32_t>& dropped_frames) const;

 private:
  mutable std::mutex mutex_;
  Timestamps start_{};
  bool started_ = false;
  // Decode units.
  uint64_t received_ = 0;
  uint64_t lost_ = 0;
  uint64_t resets_ = 0;  // frame number went backwards (a new host stream)
  uint64_t idr_ = 0;
  std::optional<int> last_frame_number_;
  std::set<int> delivered_;  // frame numbers of every decode unit
  std::vector<double> host_latency_ms_;
  uint64_t host_latency_unknown_ = 0;
  std::vector<double> assembly_ms_;
  // Decoding.
  uint64_t decode_errors_ = 0;
  uint64_t corrupt_ = 0;
  std::string last_decode_error_;
  uint64_t decoded_ = 0;
  uint64_t decoded_at_last_line_ = 0;
  std::vector<double> receive_to_decoded_ms_;
  std::optional<Timestamps> first_picture_;
  std::optional<Timestamps> last_picture_;
  double longest_gap_ms_ = 0;
  std::vector<std::pair<int64_t, double>> pauses_;  // (start realtime ms, duration ms)
  // Barcodes.
  uint64_t barcode_ok_ = 0;
  uint64_t barcode_failed_ = 0;
  uint64_t barcode_skipped_ = 0;  // capture frame numbers jumped over between two reads
  std::optional<capture::BarcodeData> last_barcode_;
  std::string last_barcode_error_;
  std::vector<double> capture_to_decoded_ms_;
  // Audio.
  uint64_t audio_packets_ = 0;
  uint64_t audio_lost_ = 0;
  uint64_t audio_decode_errors_ = 0;
  std::string audio_last_error_;
  uint64_t audio_samples_ = 0;
  Json audio_layout_;
  std::optional<Timestamps> first_audio_;
  std::optional<Timestamps> last_audio_;
  bool keep_audio_packets_ = false;
  std::vector<int64_t> audio_received_ns_;
  std::vector<int> audio_packet_samples_;
  // Pictures, when kept.
  bool keep_pictures_ = false;
  std::vector<int64_t> picture_decoded_ns_;
  std::vector<double> picture_mean_luma_;
};

// {"p50","p99","max","count"} of `samples` in ms (nearest rank, common/percentile.h).
Json distribution(std::vector<double> samples);

}  // namespace funkhaus::probe
