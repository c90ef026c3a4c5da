// The control socket protocol between funkhausctl (client) and funkhausd (server): one JSON
// object per line each way. funkhausd validates every request; clients are untrusted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "funkhaus/common/result.h"

namespace funkhaus::supervisor {

inline constexpr size_t kMaxControlRequest = 4096;

// funkhausd's control pipe on Windows (funkhausd --control-pipe, funkhausctl --socket).
inline constexpr const char* kWindowsControlPipe = R"(\\.\pipe\funkhaus-control)";

struct ControlRequest {
  enum class Kind {
    kStatus,
    kRestart,
    kStop,
    kStart,
    kMode,
    kForward,
    kStatsStart,  // the stats recorder (stats_recorder.h)
    kStatsStop,
    kStatsList,
    kStatsShow,
    kStatsRm,
    kLogs,  // funkhausd's recent log lines (log_memory.h)
  };
  Kind kind = Kind::kStatus;
  std::string worker;  // restart/stop/start: a worker of the table (worker_table.h)
  // mode: the session's virtual monitor's new mode.
  uint32_t width = 0, height = 0, refresh_hz = 0;
  // kForward: a request a worker serves (worker_table.h `serves`: pairing, pair, clients, unpair,
  // host-state), funkhausd forwards it with these fields (checked here).
  std::string command;
  std::string pin;       // pair: 4 digits
  std::string address;   // pair: optional, the client's address when several wait
  std::string id;        // unpair: 8 to 64 hex digits of the client's id; stats-show/rm: a
                         // capture's id (^[A-Za-z0-9._-]+$, 1 to 64)
  std::string name;      // stats-start: optional, 1 to 64 bytes without control characters
  uint32_t seconds = 0;  // logs: 1 to 3600
  // stats-show: optional, the samples [from, from + count) only (a worker channel's reply holds
  // 64 KiB: the console pages); count 0: all.
  uint32_t from = 0, count = 0;
  std::string password;  // set-password (the console's): 8 to 1024 bytes, no control characters
};

// {"cmd":"status"}, {"cmd":"restart"|"stop"|"start","worker":"NAME"},
// {"cmd":"mode","width":W,"height":H,"refresh_hz":R}, {"cmd":"pairing"|"clients"|"host-state"},
// {"cmd":"pair","pin":"1234"[,"address":"A"]}, {"cmd":"unpair","id":"HEX"},
// {"cmd":"set-password","password":"P"} or {"cmd":"new-metrics-token"}. Errors say what
// is wrong; unknown fields are refused. The stats recorder's: {"cmd":"stats-start"[,"name":N]},
// {"cmd":"stats-stop"|"stats-list"}, {"cmd":"stats-show","id":ID[,"from":F,"count":C]},
// {"cmd":"stats-rm","id":ID} and
// {"cmd":"logs","seconds":S}.
Result<ControlRequest> parseControlRequest(std::string_view line);

// Requests that change something need root, funkhausd's own user or the control group.
inline bool isMutating(ControlRequest::Kind kind) {
  return kind != ControlRequest::Kind::kStatus && kind != ControlRequest::Kind::kStatsList &&
         kind != ControlRequest::Kind::kStatsShow && kind != ControlRequest::Kind::kLogs;
}
// The same for a parsed request (forwarded ones: as the serving row says).
bool isMutating(const ControlRequest& request);

// A forwarded request as the JSON text the serving worker gets.
std::string forwardedRequestText(const ControlRequest& request);

// The request as one line of JSON (without the newline).
std::string encodeControlRequest(const ControlRequest& request);

}  // namespace funkhaus::supervisor
