// funkhausd's side of the JSON requests on a worker's channel: the answers to the requests a
// worker sends (funkhaus-web's launch and cancel, by the row's `requests`), the check of a
// reply to a request funkhausd forwarded (funkhausctl's pair, clients, ...), and the status
// section made from funkhaus-web's host-state. Everything a worker wrote is untrusted: parsed,
// typed and bounded here. Pure functions; funkhausd's event loop thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "funkhaus/abi/gamestream_state.h"
#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {

// What funkhausd knows of the session when a worker asks for a stream.
struct StreamView {
  bool session = false;          // a session's set runs
  bool greeter = false;          // ... and it is the login screen
  std::string net_state;         // its net worker's state ("" if it has none)
  bool net_ready = false;        // its net worker is up
  uint16_t rtsp_port = 0;        // where the client's RTSP handshake goes (sessionUrl0)
  std::string streaming_client;  // the id of the client whose stream runs ("" if none)
};

struct RequestAnswer {
  std::string reply;  // JSON text for the worker
  std::string log;    // one line for funkhausd's log ("" = nothing worth a line)
  // What funkhausd does besides replying (only when the reply is ok):
  uint32_t launch_app = 0;  // launch: the app id the client asked for (1: Desktop)
  bool resume = false;      // ... to resume it
  bool cancel = false;      // cancel: the client's app stops
  // launch and cancel: what funkhausd publishes to the session's net (the stream key, or the
  // stream's end); sequence is funkhausd's to set.
  std::optional<abi::GamestreamLaunch> publish = std::nullopt;
};

// The answer to request `text` from a worker of row `from` (which may send only what its row
// lists): launch -> {"ok":true,"rtsp_port":N} when the session's net worker is ready, else a
// clear error; cancel -> {"ok":true}; anything malformed -> {"ok":false,"error":...}.
RequestAnswer answerWorkerRequest(const WorkerSpec& from, std::string_view text,
                                  const StreamView& view);

// The reply to a forwarded request as funkhausctl gets it: a JSON object with a boolean "ok"
// (and then "error" a string), re-encoded; anything else becomes an error naming the worker.
std::string checkedForwardReply(std::string_view worker, const Result<std::string>& reply);

// The fields of funkhaus-web's host-state reply that the status shows, each checked for type
// and size: name, unique_id, http_port, https_port, paired_clients, pending_pairings,
// running_app, mdns. An unusable reply gives {"error": "..."}.
nlohmann::json hostStateStatus(const Result<std::string>& reply);

// What the status's GameStream section says besides web's host-state.
struct GamestreamFacts {
  const GamestreamConfig& config;
  std::string worker, worker_state;
  uint16_t http_port = 0, https_port = 0;  // the sockets funkhausd holds
  std::string state_dir;
  std::string app_process;  // the title of the app funkhausd runs ("" = none)
};

// The status's GameStream section: `facts` and the checked host-state fields (`state`), with the
// running app's title.
nlohmann::json gamestreamStatus(const GamestreamFacts& facts, nlohmann::json state);

}  // namespace funkhaus::supervisor
