// The console's HTTP API (console_api.h).
#include "funkhaus/console/console_api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>

#include "funkhaus/common/files.h"
#include "funkhaus/console/metrics.h"

namespace funkhaus::console {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMaxStaticFile = 16 * 1024 * 1024;

std::string dumpSafe(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse jsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = dumpSafe(body);
  return r;
}

bool isJson(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t == "application/json";
}

// The body's JSON object ({} for an empty body), or nullopt.
std::optional<json> bodyObject(const std::string& body) {
  if (body.empty()) return json::object();
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  return j;
}

// Copies `keys` of `from` that are there into `to` (funkhausd checks their values).
void copyFields(const json& from, json& to, std::initializer_list<const char*> keys) {
  for (const char* key : keys)
    if (const auto it = from.find(key); it != from.end()) to[key] = *it;
}

// Fetches a whole capture page by page and answers it as one capture JSON.
class CapturePager : public std::enable_shared_from_this<CapturePager> {
 public:
  static constexpr uint64_t kPage = 50;       // samples of every series: well below 64 KiB
  static constexpr uint64_t kMaxPages = 400;  // 20 000 samples: beyond the 3 h bound

  static void start(ControlLink& link, std::string id, Respond respond) {
    std::shared_ptr<CapturePager> p(new CapturePager(link, std::move(id), std::move(respond)));
    p->next();
  }

 private:
  CapturePager(ControlLink& link, std::string id, Respond respond)
      : link_(link), id_(std::move(id)), respond_(std::move(respond)) {}

  void next() {
    auto self = shared_from_this();
    link_.request({{"cmd", "stats-show"}, {"id", id_}, {"from", from_}, {"count", kPage}},
                  [self](Result<std::string> reply) { self->take(std::move(reply)); });
  }

  void take(Result<std::string> reply) {
    if (!reply) return respond_(errorResponse(502, "funkhausd: " + reply.error().message));
    json j = json::parse(*reply, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return respond_(errorResponse(502, "funkhausd sent an unreadable reply"));
    if (j.value("ok", false) != true) {
      const auto e = j.find("error");
      return respond_(errorResponse(
          400, e != j.end() && e->is_string() ? e->get<std::string>() : "funkhausd refused"));
    }
    json page = j.contains("capture") ? std::move(j["capture"]) : json();
    if (!page.is_object() || !page.contains("t") || !page["t"].is_array())
      return respond_(errorResponse(502, "funkhausd sent a capture without \"t\""));
    const uint64_t total = page.value("samples", uint64_t{0});
    const size_t got = page["t"].size();
    if (pages_++ == 0) {
      capture_ = std::move(page);
    } else {
      for (auto& v : page["t"]) capture_["t"].push_back(std::move(v));
      if (page.contains("series") && page["series"].is_object())
        for (auto& [name, values] : page["series"].items())
          if (values.is_array() && capture_["series"].contains(name) &&
              capture_["series"][name].is_array())
            for (auto& v : values) capture_["series"][name].push_back(std::move(v));
    }
    from_ += got;
    if (got > 0 && from_ < total && pages_ < kMaxPages) return next();
    capture_.erase("from");
    HttpResponse out;
    out.body = dumpSafe({{"ok", true}, {"capture", std::move(capture_)}});
    respond_(std::move(out));
  }

  ControlLink& link_;
  std::string id_;
  Respond respond_;
  uint64_t from_ = 0;
  uint64_t pages_ = 0;
  json capture_;
};

}  // namespace

HttpResponse errorResponse(int status, const std::string& message) {
  return jsonResponse(status, {{"error", message}});
}

std::string ConsoleApi::event(const std::string& name, const std::string& data) {
  std::string out = "event: " + name + "\n";
  size_t start = 0;
  while (true) {  // a data line per line of the text
    const size_t nl = data.find('\n', start);
    out += "data: " + data.substr(start, nl == std::string::npos ? nl : nl - start) + "\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out + "\n";
}

ConsoleApi::ConsoleApi(ConsoleApiOptions options, Secrets& secrets, SessionStore& sessions,
                       LoginLimiter& limiter, ControlLink& link)
    : options_(std::move(options)),
      secrets_(secrets),
      sessions_(sessions),
      limiter_(limiter),
      link_(link) {}

void ConsoleApi::handle(const HttpRequest& request, Respond respond) {
  ++counters_.requests;
  auto target = parseTarget(request.target);
  const bool api = target && (target->path.starts_with("/api") || target->path == "/metrics");
  // Every answer goes out with the security headers.
  Respond secured = [this, respond = std::move(respond), api](HttpResponse r) {
    r.headers.emplace_back("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
    r.headers.emplace_back("X-Frame-Options", "DENY");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("Cache-Control", api ? "no-store" : "no-cache");
    if (r.status >= 500)
      ++counters_.failed;
    else if (r.status >= 400)
      ++counters_.refused;
    respond(std::move(r));
  };
  if (!target) return secured(errorResponse(400, target.error().message));
  const Route r = console::route(request.method, target->path);
  route(request, r, *target, secured);
}

void ConsoleApi::route(const HttpRequest& request, const Route& r, const Target& target,
                       const Respond& respond) {
  using K = Route::Kind;
  // Outside /api: unknown paths and methods at once. Under /api only a logged-in user learns
  // which exist.
  if (!r.api && r.kind == K::kNotFound) return respond(errorResponse(404, "no such page"));
  if (!r.api && r.kind == K::kMethodNotAllowed)
    return respond(errorResponse(405, "method not allowed"));
  if (r.kind == K::kIndex) return file(options_.web_root / "index.html", respond);
  if (r.kind == K::kAsset) {
    const auto path = assetPath(options_.web_root / "assets", r.arg);
    if (!path) return respond(errorResponse(404, "no such file"));
    return file(*path, respond);
  }
  if (r.kind == K::kMetrics) return metrics(request, respond);
  // The API: a cross-site request never changes anything; JSON bodies only.
  if (r.mutating && crossSite(request.origin, request.sec_fetch_site, request.host))
    return respond(errorResponse(403, "cross-site request refused"));
  if (r.mutating && !request.body.empty() && !isJson(request.content_type))
    return respond(errorResponse(415, "the body must be application/json"));
  if (r.kind == K::kLogin) return login(request, respond);
  const auto token = cookieValue(request.cookie, kSessionCookie);
  const auto csrf = token ? sessions_.csrfOf(*token) : std::nullopt;
  if (!csrf) return respond(errorResponse(401, "log in first"));
  if (r.kind == K::kNotFound) return respond(errorResponse(404, "no such page"));
  if (r.kind == K::kMethodNotAllowed) return respond(errorResponse(405, "method not allowed"));
  if (r.mutating && !constantTimeEqual(request.csrf_token, *csrf))
    return respond(errorResponse(403, "missing or wrong X-CSRF-Token"));
  const auto body = bodyObject(request.body);
  if (!body) return respond(errorResponse(400, "the body must be a JSON object"));
  switch (r.kind) {
    case K::kSession:
      return respond(jsonResponse(200, {{"csrf", *csrf}}));
    case K::kLogout: {
      sessions_.remove(*token);
      HttpResponse out = jsonResponse(200, {{"ok", true}});
      out.headers.emplace_back("Set-Cookie", std::string(kSessionCookie) +
                                                 "=; HttpOnly; Secure; SameSite=Strict; Path=/; "
                                                 "Max-Age=0");
      return respond(std::move(out));
    }
    case K::kEvents: {
      HttpResponse out;
      out.content_type = "text/event-stream";
      out.event_stream = true;
      out.body = "retry: 1000\n: funkhaus console events\n\n";
      if (!last_status_.empty()) out.body += event("status", last_status_);
      return respond(std::move(out));
    }
    case K::kStatus:
      return forward({{"cmd", "status"}}, respond);
    case K::kWorker:
      return forward({{"cmd", r.action}, {"worker", r.arg}}, respond);
    case K::kMode: {
      json c = {{"cmd", "mode"}};
      copyFields(*body, c, {"width", "height", "refresh_hz"});
      return forward(std::move(c), respond);
    }
    case K::kPairing:
      return forward({{"cmd", "pairing"}}, respond);
    case K::kPair: {
      json c = {{"cmd", "pair"}};
      copyFields(*body, c, {"pin", "address"});
      return forward(std::move(c), respond);
    }
    case K::kClients:
      return forward({{"cmd", "clients"}}, respond);
    case K::kUnpair: {
      json c = {{"cmd", "unpair"}};
      copyFields(*body, c, {"id"});
      return forward(std::move(c), respond);
    }
    case K::kStatsList:
      return forward({{"cmd", "stats-list"}}, respond);
    case K::kStatsStart: {
      json c = {{"cmd", "stats-start"}};
      if (const auto name = body->find("name"); name != body->end() && !name->is_null()) {
        if (!name->is_string() || name->get<std::string>().size() > 64)
          return respond(errorResponse(400, "\"name\" must be a string of up to 64 bytes"));
        if (!name->get<std::string>().empty()) c["name"] = *name;
      }
      return forward(std::move(c), respond);
    }
    case K::kStatsStop:
      return forward({{"cmd", "stats-stop"}}, respond);
    case K::kStatsShow: {
      // ?from=F&count=C: that page as funkhausd answers it; else the whole capture, fetched in
      // pages (a worker channel's reply holds 64 KiB).
      json c = {{"cmd", "stats-show"}, {"id", r.arg}};
      for (const char* key : {"from", "count"})
        if (const auto it = target.query.find(key); it != target.query.end()) {
          uint64_t v = 0;
          const std::string& t = it->second;
          auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
          if (ec != std::errc() || end != t.data() + t.size() || v > 1'000'000)
            return respond(errorResponse(400, std::string(key) + " must be an integer"));
          c[key] = v;
        }
      if (c.contains("from") || c.contains("count")) return forward(std::move(c), respond);
      return CapturePager::start(link_, r.arg, respond);
    }
    case K::kStatsRm:
      return forward({{"cmd", "stats-rm"}, {"id", r.arg}}, respond);
    case K::kLogs: {
      const auto it = target.query.find("seconds");
      int64_t seconds = 300;
      if (it != target.query.end()) {
        const std::string& v = it->second;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
        if (ec != std::errc() || end != v.data() + v.size() || seconds < 1 || seconds > 3600)
          return respond(errorResponse(400, "seconds must be an integer from 1 to 3600"));
      }
      return forward({{"cmd", "logs"}, {"seconds", seconds}}, respond);
    }
    default:
      return respond(errorResponse(404, "no such page"));
  }
}

void ConsoleApi::login(const HttpRequest& request, const Respond& respond) {
  if (!limiter_.allowed(request.peer)) {
    HttpResponse out = errorResponse(429, "too many failed logins: wait a minute");
    out.headers.emplace_back("Retry-After", std::to_string(limiter_.retryAfterS()));
    return respond(std::move(out));
  }
  if (!secrets_.hasPassword())
    return respond(errorResponse(409, "no console password set: run funkhausctl console-password"));
  const auto body = bodyObject(request.body);
  const auto password = body ? body->find("password") : json::const_iterator();
  if (!body || password == body->end() || !password->is_string() ||
      password->get<std::string>().size() > 1024)
    return respond(errorResponse(400, "login needs {\"password\": \"...\"}"));
  if (!secrets_.checkPassword(password->get<std::string>())) {
    limiter_.failed(request.peer);
    ++counters_.login_failures;
    spdlog::warn("failed console login from {}", request.peer);
    return respond(errorResponse(401, "wrong password"));
  }
  ++counters_.logins;
  const auto session = sessions_.create();
  spdlog::info("console login from {}", request.peer);
  HttpResponse out = jsonResponse(200, {{"csrf", session.csrf}});
  out.headers.emplace_back("Set-Cookie", std::string(kSessionCookie) + "=" + session.token +
                                             "; HttpOnly; Secure; SameSite=Strict; Path=/");
  respond(std::move(out));
}

void ConsoleApi::forward(json command, const Respond& respond) {
  link_.request(command, [respond](Result<std::string> reply) {
    if (!reply) return respond(errorResponse(502, "funkhausd: " + reply.error().message));
    const json j = json::parse(*reply, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return respond(errorResponse(502, "funkhausd sent an unreadable reply"));
    if (j.value("ok", false) != true) {
      const auto e = j.find("error");
      return respond(errorResponse(
          400, e != j.end() && e->is_string() ? e->get<std::string>() : "funkhausd refused"));
    }
    HttpResponse out;
    out.body = *reply;
    respond(std::move(out));
  });
}

void ConsoleApi::metrics(const HttpRequest& request, const Respond& respond) {
  if (!options_.loopback) {
    const std::string prefix = "Bearer ";
    const bool ok = request.authorization.starts_with(prefix) &&
                    secrets_.checkMetricsToken(request.authorization.substr(prefix.size()));
    if (!ok) {
      HttpResponse out = errorResponse(
          401, secrets_.hasMetricsToken()
                   ? "/metrics needs Authorization: Bearer <token>"
                   : "/metrics needs a token off loopback: run funkhausctl metrics-token");
      out.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"funkhaus\"");
      return respond(std::move(out));
    }
  }
  link_.request({{"cmd", "status"}}, [respond](Result<std::string> reply) {
    HttpResponse out;
    out.content_type = kMetricsContentType;
    out.body = prometheusText(reply ? json::parse(*reply, nullptr, false) : json());
    respond(std::move(out));
  });
}

void ConsoleApi::file(const fs::path& path, const Respond& respond) {
  auto text = readSmallFile(path, kMaxStaticFile);
  if (!text)
    return respond(
        errorResponse(404, fileMissing(path) ? "no such file" : "the file cannot be read"));
  HttpResponse out;
  out.content_type = contentTypeOf(path);
  out.body = std::move(*text);
  respond(std::move(out));
}

std::string ConsoleApi::answer(const std::string& text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto failure = [](const std::string& why) { return dumpSafe({{"ok", false}, {"error", why}}); };
  if (!j.is_object() || !j.contains("cmd") || !j["cmd"].is_string())
    return failure("a request is a JSON object with a \"cmd\" string");
  const std::string cmd = j["cmd"].get<std::string>();
  if (cmd == "set-password") {
    const auto p = j.find("password");
    if (p == j.end() || !p->is_string() || p->get<std::string>().size() < 8 ||
        p->get<std::string>().size() > 1024)
      return failure("set-password needs \"password\" of 8 to 1024 bytes");
    if (auto ok = secrets_.setPassword(p->get<std::string>()); !ok)
      return failure(ok.error().message);
    sessions_.clear();
    spdlog::info("console password set; every console session logged out");
    return dumpSafe({{"ok", true}});
  }
  if (cmd == "new-metrics-token") {
    auto token = secrets_.newMetricsToken();
    if (!token) return failure(token.error().message);
    spdlog::info("new /metrics token made (only its SHA-256 is kept)");
    return dumpSafe({{"ok", true}, {"token", *token}});
  }
  return failure("unknown request '" + cmd.substr(0, 40) + "'");
}

}  // namespace funkhaus::console
