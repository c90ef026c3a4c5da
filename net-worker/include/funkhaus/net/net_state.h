// The net state page (abi/net_state.h) as funkhaus-net uses it: validated attach, the connection
// slots of the core, the RTSP protocol's blob (abi/rtsp_state.h) with its viewer slots and the
// kept parameter sets, and checks of what a previous net left in each. funkhaus-net main thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/rtsp_state.h"
#include "funkhaus/common/media/nal.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"

namespace funkhaus::net {

// Net speaks the one media module's codec ids, NAL units and parameter sets.
using media::Codec;
using media::NalUnit;
using media::ParameterSets;

// Checks the fields funkhausd wrote (magic, ABI version, sizes, the protocol table) against a
// mapping of `size` bytes. The error names the first field that is wrong.
Result<void> validateNetStateHeader(const std::byte* base, size_t size);

// Checks a connection slot as a previous (possibly buggy) net left it. A free slot is valid.
Result<void> validateConnectionSlot(const abi::NetConnectionSlot& slot);

// Checks an RTSP viewer slot as a previous net left it: every enum, flag and length. A free slot
// is always valid (its other fields mean nothing).
Result<void> validateViewerSlot(const abi::RtspViewerSlot& slot);

// Reads parameter sets a previous net kept, if they are marked whole and every length and NAL
// type checks out.
std::optional<ParameterSets> readParameterSets(const abi::RtspState& rtsp);

class NetState {
 public:
  // Validates the header, finds the RTSP blob (initialised here when fresh, or when it holds
  // another build's state) and claims the page for this process (refused while another live net
  // holds it).
  static Result<NetState> attach(SharedMemory shm);
  NetState(NetState&& other) noexcept;
  NetState& operator=(NetState&&) = delete;
  ~NetState();

  abi::NetStatePage& page() const { return *reinterpret_cast<abi::NetStatePage*>(shm_.data()); }
  abi::RtspState& rtsp() const { return *rtsp_; }
  abi::NetConnectionSlot& connection(uint32_t index) const;
  abi::RtspViewerSlot& slot(uint32_t index) const;
  // True if an earlier net attached to this page before us (a restart).
  bool restarted() const { return restarted_; }

  std::optional<ParameterSets> parameterSets() const { return readParameterSets(rtsp()); }
  // Keeps the sets (marked invalid while they are rewritten). Sets that do not fit are not kept.
  void storeParameterSets(const ParameterSets& sets);

  // Marks connection slot `index` as kept for an RTSP viewer of the same index.
  void keepConnection(uint32_t index);
  // Zeroes a viewer slot and its connection slot (state first).
  void freeSlot(uint32_t index);

 private:
  NetState(SharedMemory shm, abi::RtspState* rtsp, bool restarted)
      : shm_(std::move(shm)), rtsp_(rtsp), restarted_(restarted) {}

  SharedMemory shm_;
  abi::RtspState* rtsp_ = nullptr;
  bool restarted_ = false;
  bool attached_ = false;
  uint32_t self_pid_ = 0;
};

}  // namespace funkhaus::net
