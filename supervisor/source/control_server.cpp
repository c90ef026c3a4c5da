// ControlServer: what both platforms' listeners share — replies, parsing, authorising, dispatch.
#include "funkhaus/supervisor/control_server.h"

#include <nlohmann/json.hpp>

namespace funkhaus::supervisor {

std::string ControlServer::errorReply(const std::string& message) {
  return nlohmann::json({{"ok", false}, {"error", message}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ControlServer::okReply() { return nlohmann::json({{"ok", true}}).dump(); }

void ControlServer::answer(Handler& handler, const std::string& line,
                           const std::function<Result<uint32_t>(const ControlRequest&)>& authorize,
                           const Respond& respond) {
  auto request = parseControlRequest(line);
  if (!request) return respond(errorReply(request.error().message));
  if (request->kind == ControlRequest::Kind::kStatus)
    return dispatch(handler, *request, 0, respond);
  const auto uid = authorize(*request);
  if (!uid) return respond(errorReply(uid.error().message));
  dispatch(handler, *request, *uid, respond);
}

void ControlServer::dispatch(Handler& handler, const ControlRequest& request, uint32_t peer_uid,
                             const Respond& respond) {
  if (request.kind == ControlRequest::Kind::kStatus) {
    if (auto reply = handler.status(respond)) respond(*reply);
    return;
  }
  if (auto reply = handler.change(request, peer_uid, respond)) respond(*reply);
}

}  // namespace funkhaus::supervisor
