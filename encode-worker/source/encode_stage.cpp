// EncodeStage: frame ring -> encoder -> packet ring, with repeats of the last frame (RepeatPolicy).
#include "funkhaus/encode/encode_stage.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "funkhaus/common/clock.h"

namespace funkhaus::encode {

namespace {
constexpr uint64_t kErrorLogIntervalNs = 1'000'000'000;
}

EncodeStage::EncodeStage(Encoder encoder, FrameConsumer& frames, PacketProducer& packets,
                         RepeatOptions repeats, const Clock* clock)
    : encoder_(std::move(encoder)),
      frames_(frames),
      packets_(packets),
      clock_(clock),
      policy_(encoder_->config().fps, repeats) {}

uint64_t EncodeStage::clockNs() const {
  if (clock_ == nullptr) return monotonicNs();
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_->now().time_since_epoch())
          .count());
}

void EncodeStage::requestKeyframe() {
  encoder_->requestKeyframe();
  keyframe_pending_ = true;
  policy_.onKeyframeRequest(clockNs());
}

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
  const uint64_t now = clockNs();
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
  const uint64_t now = clockNs();
  PacketMeta meta;
  meta.frame_number = units_++;
  // Capture times are what the viewer's timestamps are made of: never let them go backwards
  // (a frame captured just before a repeat went out arrives after it).
  meta.capture_time_ns = unit.capture_time_ns;
  if (meta.capture_time_ns != 0) {
    meta.capture_time_ns = std::max(meta.capture_time_ns, last_capture_ns_ + 1);
    last_capture_ns_ = meta.capture_time_ns;
  }
  meta.flags =
      (unit.idr ? abi::kRecordFlagKeyframe : 0) | (unit.repeat ? abi::kRecordFlagRepeat : 0);
  meta.codec = static_cast<uint32_t>(encoder_->codec());
  switch (packets_.push(meta, unit.data)) {
    case PacketProducer::PushResult::kCommitted:
      ++counters_.frames_out;
      counters_.bytes_out += unit.data.size();
      if (unit.idr) ++counters_.keyframes;
      if (unit.repeat) ++counters_.repeats;
      // A repeat counts for fps only: it has no capture of its own and took nothing from the ring.
      if (unit.repeat)
        stats_.onFrame(0, now);
      else
        stats_.onFrame(unit.capture_time_ns, now, taken_ns_);
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
  // While the picture is settled, only those due at the keep-alive rate (or serving a keyframe
  // request) are encoded; the others are let go.
  if ((frame.flags & abi::kSlotFlagRepeat) != 0 && frame.content_token == last_content_ &&
      encoder_->hasLast()) {
    frames_.release(frame);
    const uint64_t now = clockNs();
    if (!keyframe_pending_ && !policy_.publicationDue(now)) {
      ++counters_.repeats_skipped;
      return Turn::kIdle;
    }
    policy_.onRepeat(now);
    return repeatAt(frame.capture_time_ns);
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
  keyframe_pending_ = false;  // the encoder makes this picture the IDR (or reopens: an IDR too)
  auto encoded =
      encoder_->encode(std::move(picture), [this](const AccessUnit& unit) { onUnit(unit); });
  reap();
  policy_.onFresh(clockNs());
  if (!encoded) {
    noteError(encoded.error());
    return Turn::kError;
  }
  return Turn::kEncoded;
}

EncodeStage::Turn EncodeStage::repeatAt(uint64_t capture_time_ns) {
  keyframe_pending_ = false;
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
  uint64_t now = clockNs();
  int64_t wait = std::max<int64_t>(max_wait_ns, 0);
  // A keyframe request is served at once: a new frame if one is there, else the kept picture.
  auto repeat_due = [this](uint64_t at) {
    return encoder_->hasLast() && (keyframe_pending_ || at >= policy_.timerDue());
  };
  if (encoder_->hasLast()) {
    const uint64_t due = keyframe_pending_ ? now : policy_.timerDue();
    wait = std::min<int64_t>(wait, due > now ? static_cast<int64_t>(due - now) : 0);
  }
  if (frames_.heldCount() < FrameConsumer::kMaxHeld) {
    FrameConsumer::Frame frame;
    switch (frames_.acquireLatest(wait, &frame)) {
      case FrameConsumer::Status::kFrame:
        taken_ns_ = clockNs();
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
  now = clockNs();
  if (!repeat_due(now)) return Turn::kIdle;
  if (keyframe_pending_)
    policy_.onRepeat(now);
  else
    policy_.onTimedRepeat(now);
  return repeatAt(now);
}

void EncodeStage::publish(abi::WorkerStatusPage& page, uint64_t now_ns) {
  abi::storeRelaxed(page.frames_in, counters_.frames_in);
  abi::storeRelaxed(page.frames_out, counters_.frames_out);
  abi::storeRelaxed(page.drops, counters_.drops);
  abi::storeRelaxed(page.errors, counters_.errors);
  abi::storeRelaxed(page.bytes_out, counters_.bytes_out);
  abi::storeRelaxed(page.keyframes, counters_.keyframes);
  abi::storeRelaxed(page.repeats, counters_.repeats);
  stats_.publish(page, now_ns);
}

}  // namespace funkhaus::encode
