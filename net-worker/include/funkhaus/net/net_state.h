// The net state page (abi/net_state.h) as funkhaus-net uses it: validated attach, checks of what
// a previous net left in each viewer slot, the kept parameter sets. funkhaus-net main thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/net/nal_units.h"

namespace funkhaus::net {

// Checks the fields funkhausd wrote (magic, ABI version, header size, max_viewers) against a
// mapping of `size` bytes. The error names the first field that is wrong.
Result<void> validateNetStateHeader(const std::byte* base, size_t size);

// Checks a viewer slot as a previous (possibly buggy) net left it: every enum, flag, length
// and index. A free slot is always valid (its other fields mean nothing).
Result<void> validateViewerSlot(const abi::NetViewerSlot& slot);

// Reads parameter sets a previous net kept, if they are marked whole and every length and NAL
// type checks out.
std::optional<ParameterSets> readParameterSets(const abi::NetStatePage& page);

class NetState {
 public:
  // Validates the header and claims the page for this process (refused while another live
  // net holds it).
  static Result<NetState> attach(SharedMemory shm);
  NetState(NetState&& other) noexcept;
  NetState& operator=(NetState&&) = delete;
  ~NetState();

  abi::NetStatePage& page() const { return *reinterpret_cast<abi::NetStatePage*>(shm_.data()); }
  abi::NetViewerSlot& slot(uint32_t index) const;
  // True if an earlier net attached to this page before us (a restart).
  bool restarted() const { return restarted_; }

  std::optional<ParameterSets> parameterSets() const { return readParameterSets(page()); }
  // Keeps the sets (marked invalid while they are rewritten). Sets that do not fit are not kept.
  void storeParameterSets(const ParameterSets& sets);

  // Zeroes a slot (state first).
  void freeSlot(uint32_t index);

 private:
  NetState(SharedMemory shm, bool restarted) : shm_(std::move(shm)), restarted_(restarted) {}

  SharedMemory shm_;
  bool restarted_ = false;
  bool attached_ = false;
  uint32_t self_pid_ = 0;
};

}  // namespace funkhaus::net
