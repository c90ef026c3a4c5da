// Control protocol: JSON request parsing with nlohmann-json (no exceptions escape).
#include "funkhaus/supervisor/control_protocol.h"
#include "funkhaus/supervisor/worker_table.h"

#include <nlohmann/json.hpp>

namespace funkhaus::supervisor {

Result<ControlRequest> parseControlRequest(std::string_view line) {
  if (line.size() > kMaxControlRequest)
    return makeError("request of {} bytes exceeds {}", line.size(), kMaxControlRequest);
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return makeError("request is not valid JSON");
  if (!j.is_object()) return makeError("request must be a JSON object");
  for (const auto& [key, value] : j.items())
    if (key != "cmd" && key != "worker" && key != "width" && key != "height" && key != "refresh_hz")
      return makeError("unknown request field \"{}\"", key.substr(0, 64));
  const auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string()) return makeError("request needs a string \"cmd\"");
  const std::string name = cmd->get<std::string>();
  ControlRequest r;
  if (name == "status")
    r.kind = ControlRequest::Kind::kStatus;
  else if (name == "restart")
    r.kind = ControlRequest::Kind::kRestart;
  else if (name == "stop")
    r.kind = ControlRequest::Kind::kStop;
  else if (name == "start")
    r.kind = ControlRequest::Kind::kStart;
  else if (name == "mode")
    r.kind = ControlRequest::Kind::kMode;
  else
    return makeError("unknown command \"{}\"", name.substr(0, 64));
  const bool has_mode = j.contains("width") || j.contains("height") || j.contains("refresh_hz");
  if (r.kind == ControlRequest::Kind::kMode) {
    if (j.contains("worker")) return makeError("mode takes no worker");
    auto field = [&](const char* key, uint32_t min, uint32_t max, uint32_t* out) -> Result<void> {
      const auto it = j.find(key);
      if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() < min ||
          it->get<uint64_t>() > max)
        return makeError("mode needs \"{}\" as an integer from {} to {}", key, min, max);
      *out = static_cast<uint32_t>(it->get<uint64_t>());
      return {};
    };
    if (auto w = field("width", 1, 16384, &r.width); !w) return w.error();
    if (auto h = field("height", 1, 16384, &r.height); !h) return h.error();
    if (j.contains("refresh_hz")) {
      if (auto f = field("refresh_hz", 1, 1000, &r.refresh_hz); !f) return f.error();
    }
    return r;
  }
  if (has_mode) return makeError("{} takes no mode", name);
  const auto worker = j.find("worker");
  if (r.kind == ControlRequest::Kind::kStatus) {
    if (worker != j.end()) return makeError("status takes no worker");
    return r;
  }
  if (worker == j.end() || !worker->is_string()) return makeError("{} needs a \"worker\"", name);
  r.worker = worker->get<std::string>();
  if (findWorker(r.worker) == nullptr)
    return makeError("unknown worker \"{}\" ({})", r.worker.substr(0, 64), workerNames());
  return r;
}

std::string encodeControlRequest(const ControlRequest& request) {
  nlohmann::json j;
  switch (request.kind) {
    case ControlRequest::Kind::kStatus:
      j["cmd"] = "status";
      return j.dump();
    case ControlRequest::Kind::kRestart:
      j["cmd"] = "restart";
      break;
    case ControlRequest::Kind::kStop:
      j["cmd"] = "stop";
      break;
    case ControlRequest::Kind::kStart:
      j["cmd"] = "start";
      break;
    case ControlRequest::Kind::kMode:
      j["cmd"] = "mode";
      j["width"] = request.width;
      j["height"] = request.height;
      if (request.refresh_hz != 0) j["refresh_hz"] = request.refresh_hz;
      return j.dump();
  }
  j["worker"] = request.worker;
  return j.dump();
}

}  // namespace funkhaus::supervisor
