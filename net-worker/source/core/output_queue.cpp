// Output queue with the page mirror. The one rule that keeps a successor exact: the unit's bytes
// and its out_unit word are in the page before the first byte of it is written to the socket.
#include "funkhaus/net/output_queue.h"

#include <atomic>
#include <cstring>

namespace funkhaus::net {

using abi::atomicRef;

bool OutputQueue::push(std::span<const uint8_t> unit, bool media) {
  if (unit.empty()) return true;
  if (unit.size() > abi::kNetPendingCapacity) return false;
  // Compact once the written prefix dominates, so the buffer stays bounded by what is queued.
  if (head_ > 0 && head_ * 2 >= buffer_.size()) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  buffer_.insert(buffer_.end(), unit.begin(), unit.end());
  units_.push_back({static_cast<uint32_t>(unit.size()), media});
  if (media)
    ++media_units_;
  else
    control_bytes_ += unit.size();
  front_is_control_ = !units_.front().media;
  return true;
}

void OutputQueue::recordUnit() {
  if (slot_ == nullptr || recorded_) return;
  if (units_.empty()) {
    // Nothing pending: the word says where the next unit will start; that unit records itself.
    atomicRef(slot_->out_unit)
        .store(stream_offset_ << abi::kOutUnitOffsetShift, std::memory_order_release);
    return;
  }
  const uint64_t size = units_.front().size;
  std::memcpy(slot_->out_data, buffer_.data() + head_, size);
  slot_->out_sent = static_cast<uint32_t>(sent_);
  // Release: the bytes above are in the page before the word that describes them.
  atomicRef(slot_->out_unit)
      .store(stream_offset_ << abi::kOutUnitOffsetShift | size, std::memory_order_release);
  recorded_ = true;
}

void OutputQueue::popFront() {
  const Unit u = units_.front();
  units_.pop_front();
  if (u.media)
    --media_units_;
  else
    control_bytes_ -= u.size;
  front_is_control_ = !units_.empty() && !units_.front().media;
  head_ += u.size;
  stream_offset_ += u.size;
  sent_ = 0;
  recorded_ = false;
  if (units_.empty()) {
    buffer_.clear();
    head_ = 0;
  }
}

OutputQueue::Flush OutputQueue::flush(NativeSocket socket, std::string* error) {
  while (!units_.empty()) {
    const Unit& u = units_.front();
    recordUnit();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    const std::ptrdiff_t n = sendSome(socket, buffer_.data() + head_ + sent_, u.size - sent_);
    if (n < 0) {
      const SocketError why = lastSocketError();
      if (why == SocketError::kInterrupted) continue;
      if (why == SocketError::kWouldBlock) return Flush::kWouldBlock;
      if (error != nullptr) *error = lastSocketErrorText();
      return Flush::kClosed;
    }
    sent_ += static_cast<size_t>(n);
    if (slot_ != nullptr) slot_->out_sent = static_cast<uint32_t>(sent_);
    if (sent_ == u.size) popFront();
  }
  return Flush::kDone;
}

void OutputQueue::mirrorTo(abi::NetConnectionSlot* slot) {
  slot_ = slot;
  recorded_ = false;
  // A completed prefix: the word says "nothing pending" (or the unit in flight, written next).
  recordUnit();
}

Result<OutputQueue> OutputQueue::resume(NativeSocket socket, abi::NetConnectionSlot& slot) {
  const uint64_t word = abi::atomicLoad(slot.out_unit);
  const uint64_t offset = word >> abi::kOutUnitOffsetShift;
  const uint64_t size = word & abi::kOutUnitSizeMask;
  if (size > abi::kNetPendingCapacity)
    return makeError("pending unit of {} bytes exceeds {}", size, abi::kNetPendingCapacity);
  uint64_t written = 0;
  if (auto counted = tcpBytesWritten(socket)) {
    written = *counted;
  } else {
    // Without the kernel's counters, trust what the previous net saw (it may have died between
    // a write and noting it: the one window left without TCP_INFO).
    if (slot.out_sent > size) return makeError("out_sent {} > unit size {}", slot.out_sent, size);
    written = offset + slot.out_sent;
  }
  if (written < offset || written - offset > size)
    return makeError("the kernel took {} bytes, the page's unit spans {}..{}", written, offset,
                     offset + size);
  const uint64_t sent = written - offset;
  OutputQueue q;
  q.slot_ = &slot;
  q.stream_offset_ = offset;
  if (sent < size) {
    q.buffer_.assign(slot.out_data, slot.out_data + size);
    q.units_.push_back({static_cast<uint32_t>(size), true});
    q.media_units_ = 1;
    q.sent_ = static_cast<size_t>(sent);
    q.recorded_ = true;  // it is in the page already
  } else {
    q.stream_offset_ = offset + size;
  }
  return q;
}

}  // namespace funkhaus::net
