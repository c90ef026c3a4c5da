// createNetStatePage(): the owner's side of the net state page (abi/net_state.h) — a sealed memfd
// with the header and one blob per protocol. Used by funkhausd and by tests that play it.
#pragma once

#include <span>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"

namespace funkhaus {

// A zero-filled page with room for `blobs` (at most abi::kMaxNetProtocols), header written. The
// blobs are those of the enabled protocols (net::blobRequests(), protocol_declarations.h).
Result<SharedMemory> createNetStatePage(std::span<const abi::NetBlobRequest> blobs);

}  // namespace funkhaus
