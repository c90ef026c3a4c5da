// One worker's line of funkhausd's status JSON (funkhausctl status --json). What the worker wrote
// into its status page is untrusted: shown as numbers, never acted on. funkhausd's loop thread.
#pragma once

#include <nlohmann/json.hpp>

#include "funkhaus/common/clock.h"
#include "funkhaus/supervisor/worker_process.h"

namespace funkhaus::supervisor {

// name, pid, state, restarts, uptime, last exit, failure, heartbeat age, status-page counters,
// fps, capture -> output latency and the stage's own time (stage_p50_ms/stage_p99_ms: null when
// not measured).
nlohmann::json workerStatusJson(const WorkerProcess& worker, TimePoint now);

}  // namespace funkhaus::supervisor
