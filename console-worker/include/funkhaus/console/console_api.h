// The console's HTTP API without the transport: one parsed request in, one response out (now or
// when funkhausd answered). Login and sessions, the CSRF token and cross-site checks, the body
// limit's answer, static files from the web root, /metrics, and every /api call turned into the
// control request funkhausd answers (console_contract: the JSON funkhausctl gets, passed
// through). funkhaus-console's main thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "funkhaus/common/result.h"
#include "funkhaus/console/auth.h"
#include "funkhaus/console/request.h"

namespace funkhaus::console {

inline constexpr const char* kSessionCookie = "fh_session";

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent
  // Headers the API looks at ("" when absent).
  std::string host, origin, sec_fetch_site, cookie, csrf_token, authorization, content_type;
  std::string body;
  std::string peer;  // the client's address (rate limit)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // Set-Cookie, Retry-After, ...
  // /api/events: the connection stays open; `body` is the stream's first bytes.
  bool event_stream = false;
};
using Respond = std::function<void(HttpResponse)>;

// funkhausd over the worker channel (or a fake in tests).
class ControlLink {
 public:
  virtual ~ControlLink() = default;
  // A control request (JSON object with "cmd"); `done` gets funkhausd's reply text or an error.
  virtual void request(const nlohmann::json& request,
                       std::function<void(Result<std::string>)> done) = 0;
};

struct ConsoleApiOptions {
  std::filesystem::path web_root;  // index.html and assets/
  bool loopback = true;            // listening on loopback only: /metrics needs no token
};

struct ApiCounters {
  uint64_t requests = 0;
  uint64_t refused = 0;  // answered 4xx
  uint64_t failed = 0;   // answered 5xx
  uint64_t logins = 0;
  uint64_t login_failures = 0;
};

class ConsoleApi {
 public:
  ConsoleApi(ConsoleApiOptions options, Secrets& secrets, SessionStore& sessions,
             LoginLimiter& limiter, ControlLink& link);

  // Answers `request` through `respond` exactly once. Every response carries the security
  // headers (CSP, X-Frame-Options, nosniff; no-store on /api and /metrics).
  void handle(const HttpRequest& request, Respond respond);

  // funkhausd's requests to the console: set-password {password}, new-metrics-token.
  std::string answer(const std::string& text);

  // The events stream's latest status text (sent to a stream as it connects).
  void setLastStatus(std::string text) { last_status_ = std::move(text); }
  const ApiCounters& counters() const { return counters_; }

  // One server-sent event.
  static std::string event(const std::string& name, const std::string& data);

 private:
  void route(const HttpRequest& request, const Route& r, const Target& target,
             const Respond& respond);
  void login(const HttpRequest& request, const Respond& respond);
  void forward(nlohmann::json command, const Respond& respond);
  void metrics(const HttpRequest& request, const Respond& respond);
  void file(const std::filesystem::path& path, const Respond& respond);

  ConsoleApiOptions options_;
  Secrets& secrets_;
  SessionStore& sessions_;
  LoginLimiter& limiter_;
  ControlLink& link_;
  std::string last_status_;
  ApiCounters counters_;
};

// A JSON error response {"error": message}.
HttpResponse errorResponse(int status, const std::string& message);

}  // namespace funkhaus::console
