// Control protocol: JSON request parsing with nlohmann-json (no exceptions escape).
#include "funkhaus/supervisor/control_protocol.h"

#include <nlohmann/json.hpp>

namespace funkhaus::supervisor {

Result<ControlRequest> parseControlRequest(std::string_view line) {
  if (line.size() > kMaxControlRequest)
    return makeError("request of {} bytes exceeds {}", line.size(), kMaxControlRequest);
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return makeError("request is not valid JSON");
  if (!j.is_object()) return makeError("request must be a JSON object");
  for (const auto& [key, value] : j.items())
    if (key != "cmd" && key != "worker") return makeError("unknown request field \"{}\"", key);
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
  else
    return makeError("unknown command \"{}\"", name.substr(0, 64));
  const auto worker = j.find("worker");
  if (r.kind == ControlRequest::Kind::kStatus) {
    if (worker != j.end()) return makeError("status takes no worker");
    return r;
  }
  if (worker == j.end() || !worker->is_string()) return makeError("{} needs a \"worker\"", name);
  r.worker = worker->get<std::string>();
  if (r.worker != "capture" && r.worker != "encode" && r.worker != "net" && r.worker != "vdisplay")
    return makeError("unknown worker \"{}\" (capture, encode, net, vdisplay)",
                     r.worker.substr(0, 64));
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
  }
  j["worker"] = request.worker;
  return j.dump();
}

}  // namespace funkhaus::supervisor
