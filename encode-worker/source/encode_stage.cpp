// EncodeStage: frame ring -> encoder -> packet ring, with repeats of the last frame.
#include "funkhaus/encode/encode_stage.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "funkhaus/common/clock.h"

namespace funkhaus::encode {

namespace {
constexpr uint64_t kErrorLogIntervalNs = 1'000'000'000;
}

EncodeStage::EncodeStage(Encoder encoder, FrameConsumer& frames, PacketProducer& packets)
    : encoder_(std::move(encoder)),
      frames_(frames),
      packets_(packets),
      interval_ns_(1'000'000'000 / encoder_->config().fps) {}

EncodeStage::~EncodeStage() {
  encoder_.reset();  // drops libavcodec's and our references: every release callback runs
  reap();
  for (const Held& h : held_) frames_.release(h.frame);  // an encoder that leaked a reference
}

void EncodeStage::reap() {
  auto done = [this](const Held& h) {
    if (!h.released->load(std::memory_order_acquire)) return false;
    frames_.release(h.frame);
    return true;
  };
  held_.erase(std::remove_if(held_.begin(), held_.end(), done), held_.end());
}

void EncodeStage::noteError(const Error& error) {
  ++counters_.errors;
  ++counters_.drops;
  const uint64_t now = monotonicNs();
  if (last_error_log_ns_ != 0 && now - last_error_log_ns_ < kErrorLogIntervalNs) {
    ++errors_unlogged_;
    return;
  }
  if (errors_unlogged_ > 0)
    spdlog::error("encode: {} (and {} more errors in the last second)", error.message,
                  errors_unlogged_);
  else
    spdlog::error("encode: {}", error.message);
  errors_unlogged_ = 0;
  last_error_log_ns_ = now;
}

void EncodeStage::onUnit(const AccessUnit& unit) {
  const uint64_t now = monotonicNs();
  PacketMeta meta;
  meta.frame_number = units_++;
  // Capture times are what the viewer's timestamps are made of: never let them go backwards
  // (a frame captured just before a repeat went out arrives after it).
  meta.capture_time_ns = unit.capture_time_ns;
  if (meta.capture_time_ns != 0) {
    meta.capture_time_ns = std::max(meta.capture_time_ns, last_capture_ns_ + 1);
    last_capture_ns_ = meta.capture_time_ns;
  }
  meta.flags = unit.idr ? abi::kRecordFlagKeyframe : 0;
  meta.codec = static_cast<uint32_t>(encoder_->codec());
  switch (packets_.push(meta, unit.data)) {
    case PacketProducer::PushResult::kCommitted:
      ++counters_.frames_out;
      counters_.bytes_out += unit.data.size();
      if (unit.idr) ++counters_.keyframes;
      if (unit.repeat) ++counters_.repeats;
      stats_.onFrame(unit.repeat ? 0 : unit.capture_time_ns, now);
      break;
    case PacketProducer::PushResult::kDropped:
      ++counters_.drops;  // the ring flags the next record; net asks for an IDR
      break;
    case PacketProducer::PushResult::kTooLarge:  // noteError counts the drop
      noteError(makeError("access unit of {} bytes is larger than the packet ring's records",
                          unit.data.size()));
      break;
  }
}

EncodeStage::Turn EncodeStage::encodeFrame(const FrameConsumer::Frame& frame) {
  ++counters_.frames_in;
  // A repeat of the picture the encoder holds (capture forwards static screens so, mostly
  // without payload): the encoder encodes its last picture again, nothing is read or copied.
  if ((frame.flags & abi::kSlotFlagRepeat) != 0 && frame.content_token == last_content_ &&
      encoder_->hasLast()) {
    frames_.release(frame);
    const uint64_t now = monotonicNs();
    const Turn turn = repeatAt(frame.capture_time_ns);
    next_repeat_ns_ = now + 2 * interval_ns_;
    return turn;
  }
  if (frame.payload.empty()) {  // a repeat of a picture we do not have: nothing to encode
    frames_.release(frame);
    return Turn::kIdle;
  }
  last_content_ = frame.content_token;
  auto released = std::make_shared<std::atomic<bool>>(false);
  held_.push_back({frame, released});
  Picture picture;
  picture.geometry = frame.geometry;
  picture.payload = frame.payload;
  picture.capture_time_ns = frame.capture_time_ns;
  picture.colour = frame.colour;
  picture.on_release = [released] { released->store(true, std::memory_order_release); };
  auto encoded =
      encoder_->encode(std::move(picture), [this](const AccessUnit& unit) { onUnit(unit); });
  reap();
  next_repeat_ns_ = monotonicNs() + 2 * interval_ns_;
  if (!encoded) {
    noteError(encoded.error());
    return Turn::kError;
  }
  return Turn::kEncoded;
}

EncodeStage::Turn EncodeStage::repeat(uint64_t now_ns) {
  next_repeat_ns_ += interval_ns_;
  if (next_repeat_ns_ <= now_ns) next_repeat_ns_ = now_ns + interval_ns_;  // fell behind
  return repeatAt(now_ns);
}

EncodeStage::Turn EncodeStage::repeatAt(uint64_t capture_time_ns) {
  auto encoded =
      encoder_->repeatLast(capture_time_ns, [this](const AccessUnit& unit) { onUnit(unit); });
  reap();
  if (!encoded) {
    noteError(encoded.error());
    return Turn::kError;
  }
  return Turn::kRepeated;
}

EncodeStage::Turn EncodeStage::step(int64_t max_wait_ns) {
  reap();
  uint64_t now = monotonicNs();
  int64_t wait = std::max<int64_t>(max_wait_ns, 0);
  if (encoder_->hasLast())
    wait = std::min<int64_t>(
        wait, next_repeat_ns_ > now ? static_cast<int64_t>(next_repeat_ns_ - now) : 0);
  if (frames_.heldCount() < FrameConsumer::kMaxHeld) {
    FrameConsumer::Frame frame;
    switch (frames_.acquireLatest(wait, &frame)) {
      case FrameConsumer::Status::kFrame:
        return encodeFrame(frame);
      case FrameConsumer::Status::kProducerGone:
        spdlog::info(
            "encode: the frame producer is gone; repeating the last frame until a new "
            "one comes");
        break;
      case FrameConsumer::Status::kTimeout:
        break;
    }
  } else {
    // Only an encoder that keeps its input after avcodec_send_frame gets here (libx264 and
    // libx265 copy it inside the call): wait for it to let go of a slot.
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(wait, 1'000'000)));
    reap();
  }
  now = monotonicNs();
  if (encoder_->hasLast() && now >= next_repeat_ns_) return repeat(now);
  return Turn::kIdle;
}

void EncodeStage::publish(abi::WorkerStatusPage& page, uint64_t now_ns) {
  abi::storeRelaxed(page.frames_in, counters_.frames_in);
  abi::storeRelaxed(page.frames_out, counters_.frames_out);
  abi::storeRelaxed(page.drops, counters_.drops);
  abi::storeRelaxed(page.errors, counters_.errors);
  abi::storeRelaxed(page.bytes_out, counters_.bytes_out);
  abi::storeRelaxed(page.keyframes, counters_.keyframes);
  stats_.publish(page, now_ns);
}

}  // namespace funkhaus::encode
