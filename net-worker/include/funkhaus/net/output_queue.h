// The output of one RTSP connection: whole units (RTSP responses, '$'-framed RTP/RTCP packets)
// written without blocking. For a viewer's connection the unit being written is mirrored in its
// slot of the net state page first, so that a restarted net finishes exactly that unit and the
// byte stream's framing survives a SIGKILL mid-write. funkhaus-net main thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/common/result.h"
#include "funkhaus/net/socket.h"

namespace funkhaus::net {

class OutputQueue {
 public:
  enum class Flush {
    kDone,        // everything queued is written
    kWouldBlock,  // the socket is full: wait until it is writable and flush again
    kClosed,      // the connection is broken (error says why)
  };

  // Appends one unit. Units larger than abi::kNetPendingCapacity are refused (false): a unit
  // must fit the page to be finished by a successor.
  bool push(std::span<const uint8_t> unit, bool media);

  // Writes queued units until all are written or the socket would block.
  Flush flush(NativeSocket socket, std::string* error = nullptr);

  bool empty() const { return units_.empty(); }
  size_t queuedBytes() const { return buffer_.size() - head_ - sent_; }
  // Of those, bytes of control units (responses), not media.
  size_t controlBytes() const { return control_bytes_ - (front_is_control_ ? sent_ : 0); }
  // True while any media unit is queued (the viewer has not taken the last frame yet).
  bool mediaQueued() const { return media_units_ != 0; }
  // Bytes written to the connection so far (every byte: whole units and the current part).
  uint64_t bytesWritten() const { return stream_offset_ + sent_; }

  // From now on, mirror into `slot` (nullptr: stop). Records the unit being written, if any.
  void mirrorTo(abi::NetConnectionSlot* slot);

  // The queue of a connection a previous net left in `slot`: learns from the kernel how much of
  // the unit in the page went out and queues the rest; mirroring into `slot` continues. Error
  // when the page and the kernel disagree (writing on would break the framing: close it).
  static Result<OutputQueue> resume(NativeSocket socket, abi::NetConnectionSlot& slot);

 private:
  struct Unit {
    uint32_t size;
    bool media;
  };
  void recordUnit();  // writes the front unit into the mirror slot
  void popFront();

  std::vector<uint8_t> buffer_;  // queued units back to back, from head_
  size_t head_ = 0;              // start of the front unit in buffer_
  size_t sent_ = 0;              // bytes of the front unit written
  std::deque<Unit> units_;
  size_t media_units_ = 0;
  size_t control_bytes_ = 0;  // sizes of the queued control units
  bool front_is_control_ = false;
  uint64_t stream_offset_ = 0;  // bytes written before the front unit
  abi::NetConnectionSlot* slot_ = nullptr;
  bool recorded_ = false;  // the front unit is in slot_->out_data
};

}  // namespace funkhaus::net
