// funkhausd's reports: pieces of its status JSON (funkhausctl status --json: one worker's line, a
// session plan's ring counters) and the log lines that say where viewers and Moonlight connect.
// What workers wrote into their status pages and rings is untrusted: shown as numbers, never acted
// on. funkhausd's event loop thread.
#pragma once

#include <nlohmann/json.hpp>

#include "funkhaus/common/clock.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/session_plan.h"
#include "funkhaus/supervisor/sound_server.h"
#include "funkhaus/supervisor/worker_process.h"
#include "funkhaus/supervisor/worker_status.h"

namespace funkhaus::supervisor {

// The rings of `plan` by name: slots and counters (frame rings), bytes and records (packet).
nlohmann::json ringsStatusJson(const SessionPlan& plan);

// The session's sound server: its PULSE_SERVER address (and "env": "PULSE_SERVER=..." to paste),
// whether funkhaus started it, its state, pid, restarts, last exit, failure.
nlohmann::json soundServerStatusJson(const SoundServer& sound);

// Where viewers connect (RTSP) and who may.
void logViewerUrl(const NetConfig& net, uint16_t rtsp_port, uint16_t rtp_port);
// Where Moonlight finds the host and how it pairs.
void logGamestream(const GamestreamConfig& gamestream, uint16_t http_port, uint16_t https_port,
                   const std::string& state_dir);
// An event a worker sent that is only logged.
void logEvent(const WorkerSpec& from, const abi::EventBody& event);

}  // namespace funkhaus::supervisor
