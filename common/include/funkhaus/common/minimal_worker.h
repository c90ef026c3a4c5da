// The minimal worker that stands in for capture, encode and net until the pipeline exists:
// speaks the channel protocol, heartbeats every 50 ms, obeys stop. Runs as its own process.
#pragma once

#include "funkhaus/abi/status_page.h"

namespace funkhaus {

// Runs the worker on the channel at fd 3; returns its exit code (abi/exit_codes.h).
int runMinimalWorker(abi::WorkerKind kind, const char* name);

}  // namespace funkhaus
