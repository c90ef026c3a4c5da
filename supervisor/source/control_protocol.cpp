// Control protocol: JSON request parsing with nlohmann-json (no exceptions escape).
#include "funkhaus/supervisor/control_protocol.h"
#include "funkhaus/supervisor/stats_recorder.h"
#include "funkhaus/supervisor/worker_table.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

namespace funkhaus::supervisor {
namespace {

bool allOf(const std::string& s, const char* allowed) {
  return s.find_first_not_of(allowed) == std::string::npos;
}

constexpr const char* kHex = "0123456789abcdefABCDEF";

// A request a worker serves: only its own fields, each checked.
Result<ControlRequest> parseForward(const nlohmann::json& j, const std::string& name) {
  ControlRequest r;
  r.kind = ControlRequest::Kind::kForward;
  r.command = name;
  for (const char* key : {"worker", "width", "height", "refresh_hz"})
    if (j.contains(key)) return makeError("{} takes no \"{}\"", name, key);
  auto text = [&](const char* key) -> std::optional<std::string> {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const bool pair = name == "pair", unpair = name == "unpair";
  if (!pair && (j.contains("pin") || j.contains("address")))
    return makeError("{} takes no \"pin\" or \"address\"", name);
  if (!unpair && j.contains("id")) return makeError("{} takes no \"id\"", name);
  if (name != "set-password" && j.contains("password"))
    return makeError("{} takes no \"password\"", name);
  if (name == "set-password") {
    const auto password = text("password");
    if (!password || password->size() < 8 || password->size() > 1024 ||
        std::any_of(password->begin(), password->end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
      return makeError(
          "set-password needs \"password\": 8 to 1024 bytes without control characters");
    r.password = *password;
  }
  if (pair) {
    const auto pin = text("pin");
    if (!pin || pin->size() != 4 || !allOf(*pin, "0123456789"))
      return makeError("pair needs \"pin\": the 4 digits Moonlight shows, as a string");
    r.pin = *pin;
    if (j.contains("address")) {
      const auto address = text("address");
      if (!address || address->empty() || address->size() > 64 ||
          !allOf(*address, "0123456789abcdefABCDEF.:"))
        return makeError("pair: \"address\" must be an IPv4 or IPv6 address");
      r.address = *address;
    }
  }
  if (unpair) {
    const auto id = text("id");
    if (!id || id->size() < 8 || id->size() > 64 || !allOf(*id, kHex))
      return makeError("unpair needs \"id\": 8 to 64 hex digits of the client's id");
    r.id = *id;
  }
  return r;
}

// The stats recorder's requests and logs: only their own fields, each checked.
Result<ControlRequest> parseRecorder(const nlohmann::json& j, ControlRequest::Kind kind,
                                     const std::string& name) {
  using Kind = ControlRequest::Kind;
  ControlRequest r;
  r.kind = kind;
  const bool takes_id = kind == Kind::kStatsShow || kind == Kind::kStatsRm;
  for (const auto& [key, value] : j.items())
    if (key != "cmd" && !(key == "id" && takes_id) &&
        !(key == "name" && kind == Kind::kStatsStart) &&
        !(key == "seconds" && kind == Kind::kLogs) &&
        !((key == "from" || key == "count") && kind == Kind::kStatsShow))
      return makeError("{} takes no \"{}\"", name, key.substr(0, 64));
  if (takes_id) {
    const auto id = j.find("id");
    if (id == j.end() || !id->is_string() || !validStatsId(id->get<std::string>()))
      return makeError(
          "{} needs \"id\": a capture's id (letters, digits, '.', '_' and '-', 1 to 64; "
          "funkhausctl stats list)",
          name);
    r.id = id->get<std::string>();
  }
  if (const auto n = j.find("name"); n != j.end()) {
    const std::string text = n->is_string() ? n->get<std::string>() : std::string();
    if (text.empty() || text.size() > 64 || std::any_of(text.begin(), text.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
        }))
      return makeError("stats-start: \"name\" must be 1 to 64 bytes without control characters");
    r.name = text;
  }
  for (const auto& [key, out] : {std::pair{"from", &r.from}, std::pair{"count", &r.count}})
    if (const auto v = j.find(key); v != j.end()) {
      if (!v->is_number_unsigned() || v->get<uint64_t>() > kMaxStatsSamples)
        return makeError("stats-show: \"{}\" must be an integer from 0 to {}", key,
                         kMaxStatsSamples);
      *out = static_cast<uint32_t>(v->get<uint64_t>());
    }
  if (kind == Kind::kLogs) {
    r.seconds = 300;
    if (const auto s = j.find("seconds"); s != j.end()) {
      if (!s->is_number_unsigned() || s->get<uint64_t>() < 1 || s->get<uint64_t>() > 3600)
        return makeError("logs: \"seconds\" must be an integer from 1 to 3600");
      r.seconds = static_cast<uint32_t>(s->get<uint64_t>());
    }
  }
  return r;
}

constexpr std::pair<std::string_view, ControlRequest::Kind> kRecorderCommands[] = {
    {"stats-start", ControlRequest::Kind::kStatsStart},
    {"stats-stop", ControlRequest::Kind::kStatsStop},
    {"stats-list", ControlRequest::Kind::kStatsList},
    {"stats-show", ControlRequest::Kind::kStatsShow},
    {"stats-rm", ControlRequest::Kind::kStatsRm},
    {"logs", ControlRequest::Kind::kLogs},
};

}  // namespace

bool isMutating(const ControlRequest& request) {
  if (request.kind == ControlRequest::Kind::kForward) return servedMutating(request.command);
  return isMutating(request.kind);
}

std::string forwardedRequestText(const ControlRequest& request) {
  nlohmann::json j = {{"cmd", request.command}};
  if (!request.pin.empty()) j["pin"] = request.pin;
  if (!request.address.empty()) j["address"] = request.address;
  if (!request.id.empty()) j["id"] = request.id;
  if (!request.password.empty()) j["password"] = request.password;
  return j.dump();
}

Result<ControlRequest> parseControlRequest(std::string_view line) {
  if (line.size() > kMaxControlRequest)
    return makeError("request of {} bytes exceeds {}", line.size(), kMaxControlRequest);
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return makeError("request is not valid JSON");
  if (!j.is_object()) return makeError("request must be a JSON object");
  for (const auto& [key, value] : j.items())
    if (key != "cmd" && key != "worker" && key != "width" && key != "height" &&
        key != "refresh_hz" && key != "pin" && key != "address" && key != "id" &&
        key != "password" && key != "name" && key != "seconds" && key != "from" && key != "count")
      return makeError("unknown request field \"{}\"", key.substr(0, 64));
  const auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string()) return makeError("request needs a string \"cmd\"");
  const std::string name = cmd->get<std::string>();
  if (servingWorker(name) != nullptr) return parseForward(j, name);
  for (const auto& [command, kind] : kRecorderCommands)
    if (name == command) return parseRecorder(j, kind, name);
  for (const char* key : {"name", "seconds", "from", "count"})
    if (j.contains(key)) return makeError("{} takes no \"{}\"", name.substr(0, 64), key);
  for (const char* key : {"pin", "address", "id", "password"})
    if (j.contains(key)) return makeError("{} takes no \"{}\"", name.substr(0, 64), key);
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
    case ControlRequest::Kind::kForward:
      return forwardedRequestText(request);
    case ControlRequest::Kind::kStatsStart:
    case ControlRequest::Kind::kStatsStop:
    case ControlRequest::Kind::kStatsList:
    case ControlRequest::Kind::kStatsShow:
    case ControlRequest::Kind::kStatsRm:
    case ControlRequest::Kind::kLogs:
      for (const auto& [command, kind] : kRecorderCommands)
        if (kind == request.kind) j["cmd"] = std::string(command);
      if (!request.id.empty()) j["id"] = request.id;
      if (!request.name.empty()) j["name"] = request.name;
      if (request.kind == ControlRequest::Kind::kLogs) j["seconds"] = request.seconds;
      if (request.from != 0) j["from"] = request.from;
      if (request.count != 0) j["count"] = request.count;
      return j.dump();
  }
  j["worker"] = request.worker;
  return j.dump();
}

}  // namespace funkhaus::supervisor
