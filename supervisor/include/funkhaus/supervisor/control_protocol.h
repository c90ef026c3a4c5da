// The control socket protocol between funkhausctl (client) and funkhausd (server): one JSON
// object per line each way. funkhausd validates every request; clients are untrusted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "funkhaus/common/result.h"

namespace funkhaus::supervisor {

inline constexpr size_t kMaxControlRequest = 4096;

struct ControlRequest {
  enum class Kind { kStatus, kRestart, kStop, kStart, kMode };
  Kind kind = Kind::kStatus;
  std::string worker;  // restart/stop/start: a worker of the table (worker_table.h)
  // mode: the session's virtual monitor's new mode.
  uint32_t width = 0, height = 0, refresh_hz = 0;
};

// {"cmd":"status"}, {"cmd":"restart"|"stop"|"start","worker":"NAME"} or
// {"cmd":"mode","width":W,"height":H,"refresh_hz":R}. Errors say what is wrong; unknown fields
// are refused.
Result<ControlRequest> parseControlRequest(std::string_view line);

// Requests that change something need root, funkhausd's own user or the control group.
inline bool isMutating(ControlRequest::Kind kind) { return kind != ControlRequest::Kind::kStatus; }

// The request as one line of JSON (without the newline).
std::string encodeControlRequest(const ControlRequest& request);

}  // namespace funkhaus::supervisor
