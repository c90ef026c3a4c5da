// funkhaus-encode: for now the minimal worker (channel, heartbeat, stop); the real encode stage
// replaces it in the pipeline issue.
#include "funkhaus/common/minimal_worker.h"

int main() { return funkhaus::runMinimalWorker(funkhaus::abi::WorkerKind::kEncode, "encode"); }
