// funkhaus-capture: for now the minimal worker (channel, heartbeat, stop); the real capture stage
// replaces it in the pipeline issue.
#include "funkhaus/common/minimal_worker.h"

int main() { return funkhaus::runMinimalWorker(funkhaus::abi::WorkerKind::kCapture, "capture"); }
