// RingReader: consumer.wait() / peek() / copy / pop() on one thread.
#include "funkhaus/net/ring_reader.h"

#include <spdlog/spdlog.h>

#include "funkhaus/common/clock.h"

namespace funkhaus::net {

RingReader::RingReader(PacketConsumer consumer, uint64_t stale_ns, uint32_t max_in_flight,
                       const char* name)
    : consumer_(std::move(consumer)),
      stale_ns_(stale_ns),
      max_in_flight_(max_in_flight),
      name_(name) {}

RingReader::~RingReader() { stop(); }

void RingReader::start(Deliver deliver) {
  deliver_ = std::move(deliver);
  thread_ = std::thread([this] { run(); });
}

void RingReader::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void RingReader::run() {
  bool fresh = false;          // a fresh record was seen since start
  bool discontinuity = false;  // records were dropped here since the last one handed over
  while (!stop_.load(std::memory_order_relaxed)) {
    const auto status = consumer_.wait(50'000'000);
    if (status == PacketConsumer::Status::kProducerGone) {
      spdlog::info("the {} ring's producer is gone; waiting for the next one", name_);
      continue;
    }
    if (status != PacketConsumer::Status::kRecord) continue;
    for (int i = 0; i < 256 && !stop_.load(std::memory_order_relaxed); ++i) {
      auto record = consumer_.peek();
      if (!record) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("{}", record.error().message);
        discontinuity = true;
        continue;
      }
      if (!record->has_value()) break;
      const PacketConsumer::Record& r = **record;
      frames_in_.fetch_add(1, std::memory_order_relaxed);
      const uint64_t now = monotonicNs();
      if (!fresh) {
        if (r.header.capture_time_ns + stale_ns_ < now) {
          stale_.fetch_add(1, std::memory_order_relaxed);
          discontinuity = true;
          consumer_.pop();
          continue;
        }
        fresh = true;
        if (stale_.load() != 0)
          spdlog::info("skipped {} stale records of the {} ring from before this start",
                       stale_.load(), name_);
      }
      if (in_flight_.load(std::memory_order_acquire) >= max_in_flight_) {
        overflow_.fetch_add(1, std::memory_order_relaxed);
        discontinuity = true;
        consumer_.pop();
        continue;
      }
      auto unit = std::make_shared<AccessUnit>();
      unit->frame_number = r.header.frame_number;
      unit->capture_time_ns = r.header.capture_time_ns;
      unit->taken_ns = now;
      unit->flags = r.header.flags | (discontinuity ? abi::kRecordFlagDiscontinuity : 0);
      unit->codec = r.header.codec;
      unit->format = r.header.format;
      const auto* bytes = reinterpret_cast<const uint8_t*>(r.payload.data());
      unit->data.assign(bytes, bytes + r.payload.size());
      consumer_.pop();
      discontinuity = false;
      in_flight_.fetch_add(1, std::memory_order_acq_rel);
      deliver_(std::move(unit));
    }
  }
}

}  // namespace funkhaus::net
