// The RTSP protocol's blob in the net state page (abi/rtsp_state.h): opened (initialised when
// fresh or left by another build), its viewer slots and the kept parameter sets, and checks of
// what a previous net left in them. funkhaus-net main thread.
#pragma once

#include <cstdint>
#include <optional>

#include "funkhaus/abi/rtsp_state.h"
#include "funkhaus/common/media/nal.h"
#include "funkhaus/common/result.h"
#include "funkhaus/net/net_state.h"

namespace funkhaus::net {

// Checks an RTSP viewer slot as a previous net left it: every enum, flag and length, its audio
// track's too. A free slot is always valid (its other fields mean nothing).
Result<void> validateViewerSlot(const abi::RtspViewerSlot& slot);

// Whether the viewer of `slot` set up the audio track.
inline bool audioSetUp(const abi::RtspViewerSlot& slot) {
  return (slot.audio.flags & abi::kAudioTrackFlagSetUp) != 0;
}

// Reads parameter sets a previous net kept, if they are marked whole and every length and NAL
// type checks out.
std::optional<media::ParameterSets> readParameterSets(const abi::RtspState& rtsp);

class RtspBlob {
 public:
  // The RTSP blob of the page. A fresh one, or one another build left (magic, version, size
  // differ), starts afresh. Errors: funkhausd reserved none, or too few bytes.
  static Result<RtspBlob> open(const NetState& state);

  abi::RtspState& state() const { return *state_; }
  abi::RtspViewerSlot& viewer(uint32_t index) const;

  std::optional<media::ParameterSets> parameterSets() const { return readParameterSets(*state_); }
  // Keeps the sets (marked invalid while they are rewritten). Sets that do not fit are not kept.
  void storeParameterSets(const media::ParameterSets& sets);

  // Zeroes a viewer slot (state first).
  void freeViewer(uint32_t index);

 private:
  explicit RtspBlob(abi::RtspState* state) : state_(state) {}
  abi::RtspState* state_;
};

}  // namespace funkhaus::net
