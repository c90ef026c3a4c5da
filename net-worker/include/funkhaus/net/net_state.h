// The net state page (abi/net_state.h) as the core of funkhaus-net uses it: validated attach, one
// net at a time, the connection slots, and the protocols' blobs (each protocol checks its own,
// e.g. rtsp/rtsp_blob.h). funkhaus-net main thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"

namespace funkhaus::net {

// Checks the fields funkhausd wrote (magic, ABI version, sizes, the protocol table) against a
// mapping of `size` bytes. The error names the first field that is wrong.
Result<void> validateNetStateHeader(const std::byte* base, size_t size);

// Checks a connection slot as a previous (possibly buggy) net left it. A free slot is valid.
Result<void> validateConnectionSlot(const abi::NetConnectionSlot& slot);

class NetState {
 public:
  // Validates the header and claims the page for this process (refused while another live net
  // holds it).
  static Result<NetState> attach(SharedMemory shm);
  NetState(NetState&& other) noexcept;
  NetState& operator=(NetState&&) = delete;
  ~NetState();

  abi::NetStatePage& page() const { return *reinterpret_cast<abi::NetStatePage*>(shm_.data()); }
  abi::NetConnectionSlot& connection(uint32_t index) const;
  // True if an earlier net attached to this page before us (a restart).
  bool restarted() const { return restarted_; }

  // The protocols funkhausd reserved a blob for (the enabled ones), in the page's order.
  std::vector<abi::NetProtocol> protocols() const;
  // The bytes of `protocol`'s blob. Errors: no blob for it, or fewer than `min_size` bytes.
  Result<std::span<std::byte>> blob(abi::NetProtocol protocol, uint64_t min_size) const;

  // Marks connection slot `index` kept for `protocol` (its session `session`), state last.
  void keepConnection(uint32_t index, abi::NetProtocol protocol, uint32_t session);
  // Zeroes connection slot `index` (state first; the output buffer is rewritten before use).
  void freeConnection(uint32_t index);

 private:
  NetState(SharedMemory shm, bool restarted) : shm_(std::move(shm)), restarted_(restarted) {}

  SharedMemory shm_;
  bool restarted_ = false;
  bool attached_ = false;
  uint32_t self_pid_ = 0;
};

}  // namespace funkhaus::net
