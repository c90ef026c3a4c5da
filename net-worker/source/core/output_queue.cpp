// Output queue with the page mirror. The one rule that keeps a successor exact: the unit's bytes
// and its out_unit word are in the page before the first byte of it is written to the socket.
#include "funkhaus/net/output_queue.h"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace funkhaus::net {

using abi::atomicRef;

Result<uint64_t> tcpBytesWritten(int fd) {
  auto acked = [&](uint64_t& out) -> Result<void> {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
      return makeError("TCP_INFO: {}", std::strerror(errno));
    if (len < offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
      return makeError("TCP_INFO of {} bytes has no tcpi_bytes_acked", len);
    out = info.tcpi_bytes_acked;
    return {};
  };
  // TCP_INFO is read under the socket lock, SIOCOUTQ is not: equal acked counts before and
  // after mean no acknowledgement moved bytes between the two counters in between.
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t before = 0, after = 0;
    int queued = 0;
    if (auto ok = acked(before); !ok) return ok.error();
    if (ioctl(fd, SIOCOUTQ, &queued) != 0 || queued < 0)
      return makeError("SIOCOUTQ: {}", std::strerror(errno));
    if (auto ok = acked(after); !ok) return ok.error();
    if (before == after) return before + static_cast<uint64_t>(queued);
  }
  return makeError("TCP counters kept moving");
}

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

OutputQueue::Flush OutputQueue::flush(int fd, std::string* error) {
  while (!units_.empty()) {
    const Unit& u = units_.front();
    recordUnit();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    const ssize_t n =
        send(fd, buffer_.data() + head_ + sent_, u.size - sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Flush::kWouldBlock;
      if (error != nullptr) *error = std::strerror(errno);
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

Result<OutputQueue> OutputQueue::resume(int fd, abi::NetConnectionSlot& slot) {
  const uint64_t word = abi::atomicLoad(slot.out_unit);
  const uint64_t offset = word >> abi::kOutUnitOffsetShift;
  const uint64_t size = word & abi::kOutUnitSizeMask;
  if (size > abi::kNetPendingCapacity)
    return makeError("pending unit of {} bytes exceeds {}", size, abi::kNetPendingCapacity);
  uint64_t written = 0;
  if (auto counted = tcpBytesWritten(fd)) {
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
