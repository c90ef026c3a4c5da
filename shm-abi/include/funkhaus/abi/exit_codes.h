// Worker exit codes: the split into transient and permanent ranges is the restart policy's input.
// Set by every worker process; read by funkhausd when a worker exits.
#pragma once

#include <cstdint>

namespace funkhaus::abi {

// 0: the worker stopped because it was asked to.
inline constexpr int kExitStopped = 0;

// 1..63: transient. Something went wrong that a restart may fix (a crash by signal counts
// here too). funkhausd restarts the worker with backoff.
inline constexpr int kExitTransientFirst = 1;
inline constexpr int kExitFailure = 1;       // generic failure
inline constexpr int kExitAttachFailed = 2;  // could not attach to a ring it was handed
inline constexpr int kExitPeerLost = 3;      // the supervisor channel closed unexpectedly
inline constexpr int kExitTransientLast = 63;

// 64..95: permanent. Restarting cannot help (wrong build, wrong config, missing hardware);
// funkhausd marks the worker failed and does not restart it.
inline constexpr int kExitPermanentFirst = 64;
inline constexpr int kExitAbiMismatch = 64;  // built against another kAbiVersion
inline constexpr int kExitBadConfig = 65;    // its part of the configuration is invalid
inline constexpr int kExitUnsupported = 66;  // the platform lacks what it needs
inline constexpr int kExitPermanentLast = 95;

}  // namespace funkhaus::abi
