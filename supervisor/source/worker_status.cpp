// One worker's line of funkhausd's status JSON (funkhausctl status --json), on Linux and Windows.
#include "funkhaus/supervisor/worker_status.h"

#include "funkhaus/abi/status_page.h"
#include "funkhaus/supervisor/latency_split.h"

namespace funkhaus::supervisor {

nlohmann::json workerStatusJson(const WorkerProcess& w, TimePoint now) {
  const auto pid = w.pid();
  nlohmann::json j;
  j["name"] = w.name();
  j["pid"] = pid ? nlohmann::json(*pid) : nlohmann::json(nullptr);
  j["state"] = toString(w.state());
  j["restarts"] = w.restarts();
  j["uptime_s"] = pid ? std::chrono::duration<double>(now - w.startedAt()).count() : 0.0;
  j["last_exit"] =
      w.lastExit() ? nlohmann::json(describeExit(*w.lastExit())) : nlohmann::json(nullptr);
  if (!w.failure().empty()) j["failure"] = w.failure();
  j["heartbeat_age_ms"] =
      pid ? std::chrono::duration<double, std::milli>(now - w.heartbeatSeen()).count() : 0.0;
  if (const abi::WorkerStatusPage* s = w.statusPage()) {
    // Written by the worker: numbers only, shown as they are (they cannot steer us).
    j["fps"] = static_cast<double>(abi::atomicLoad(s->fps_milli)) / 1000.0;
    j["latency_p50_ms"] = static_cast<double>(abi::atomicLoad(s->latency_p50_ns)) / 1e6;
    j["latency_p99_ms"] = static_cast<double>(abi::atomicLoad(s->latency_p99_ns)) / 1e6;
    // This stage's own time (its input taken -> its output handed on); null: not measured.
    j["stage_p50_ms"] = latencyMs(abi::atomicLoad(s->stage_p50_ns));
    j["stage_p99_ms"] = latencyMs(abi::atomicLoad(s->stage_p99_ns));
    j["counters"] = {{"frames_in", abi::atomicLoad(s->frames_in)},
                     {"frames_out", abi::atomicLoad(s->frames_out)},
                     {"drops", abi::atomicLoad(s->drops)},
                     {"errors", abi::atomicLoad(s->errors)},
                     {"bytes_out", abi::atomicLoad(s->bytes_out)},
                     {"keyframes", abi::atomicLoad(s->keyframes)},
                     {"repeats", abi::atomicLoad(s->repeats)}};
    if (w.spec().reports_viewers) j["viewers"] = abi::atomicLoad(s->viewers);
    if (w.spec().reports_devices) j["devices"] = abi::atomicLoad(s->devices);
  }
  return j;
}

}  // namespace funkhaus::supervisor
