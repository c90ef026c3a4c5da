// Fuzz target: a whole console request (method, target, cookie, Origin, Sec-Fetch-Site, CSRF
// token, Content-Type, body; one per line) through the API with a fake funkhausd, which answers
// a capture in two pages (or, for the ids "refused", "broken" and "flat", a refusal, unreadable
// bytes and a capture without samples), refuses "logs", sends unreadable bytes for "pairing" and
// accepts the rest; its last status has two lines. Any input gets exactly one answer; nothing
// reaches funkhausd without the session, the CSRF token of a change and a same-site origin;
// every path is checked (no '..', backslash or NUL) before use.
// fuzz-parser: console-worker/source/console_api.cpp console-worker/source/request.cpp
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/console/console_api.h"

namespace {

using namespace funkhaus;
using namespace funkhaus::console;
using nlohmann::json;

class CountingLink final : public ControlLink {
 public:
  void request(const json& r, std::function<void(Result<std::string>)> done) override {
    ++sent;
    last = r;
    const std::string cmd = r.value("cmd", "");
    const std::string id =
        r.contains("id") && r["id"].is_string() ? r["id"].get<std::string>() : "";
    if (cmd == "stats-show" && id == "refused")
      return done(std::string(R"({"ok":false,"error":"no such capture"})"));
    if (cmd == "stats-show" && id == "broken") return done(std::string("{"));
    if (cmd == "stats-show" && id == "flat")
      return done(std::string(R"({"ok":true,"capture":{"samples":0}})"));
    if (cmd == "pairing") return done(std::string("not json"));
    if (cmd == "stats-show" && r.contains("from") && r["from"].is_number_unsigned())
      return done(json({{"ok", true},
                        {"capture",
                         {{"samples", 4},
                          {"from", r["from"]},
                          {"t", {r["from"].get<uint64_t>(), r["from"].get<uint64_t>() + 1}},
                          {"series", {{"fps", {60, 59}}}}}}})
                      .dump());
    if (cmd == "logs") return done(std::string(R"({"ok":false,"error":"no journal"})"));
    done(std::string(R"({"ok":true})"));
  }
  int sent = 0;
  json last;
};

struct World {
  World() {
    dir = std::filesystem::temp_directory_path() / ("console-fuzz-" + std::to_string(getpid()));
    // The cheapest scrypt there is (N=2): the cost parameters set only how long a password check
    // takes, and every login the limiter lets through runs one.
    auto s = Secrets::open(dir, ScryptParams{2, 1, 1});
    if (!s) std::abort();
    secrets.emplace(std::move(*s));
    if (!secrets->setPassword("password1").ok()) std::abort();
    session = sessions.create();
  }
  ~World() { std::filesystem::remove_all(dir); }
  static World& world();
  std::filesystem::path dir;
  std::optional<Secrets> secrets;
  SessionStore sessions{"", [] { return int64_t{1000}; }};
  // 20 ms pass per request: failed logins leave the limiter's 60 s window after 3000 inputs, so
  // both a blocked login (429) and a checked password stay reachable all run long, while the
  // scrypt of at most 5 checks a window costs next to nothing.
  int64_t now_ms = 0;
  LoginLimiter limiter{[this] { return now_ms; }};
  CountingLink link;
  SessionStore::Created session;
};

World& World::world() {
  static World w;
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = World::world();
  w.now_ms += 20;
  // "@" is a live session in every input: a logout, a new password or 32 newer logins in an
  // earlier input ended the last one (without this, one replayed logout seed locked the whole
  // run out of every page behind the session).
  if (!w.sessions.csrfOf(w.session.token)) w.session = w.sessions.create();
  std::vector<std::string> f;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  while (f.size() < 8) {
    const size_t nl = text.find('\n');
    f.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  f.resize(8);
  HttpRequest r;
  r.method = f[0];
  r.target = f[1];
  // "@" stands for the valid session and CSRF token, so both sides get explored.
  r.cookie = f[2] == "@" ? "fh_session=" + w.session.token : f[2];
  r.origin = f[3];
  r.sec_fetch_site = f[4];
  r.csrf_token = f[5] == "@" ? w.session.csrf : f[5];
  r.content_type = f[6];
  r.body = std::string(text.size() > kMaxBody ? text.substr(0, kMaxBody) : text);
  r.host = "127.0.0.1:47990";
  r.peer = "127.0.0.1";
  ConsoleApi api(ConsoleApiOptions{w.dir / "no-web-root", true}, *w.secrets, w.sessions, w.limiter,
                 w.link);
  api.setLastStatus("{\"ok\":true,\n\"workers\":{}}");
  const int before = w.link.sent;
  int answers = 0;
  int status = 0;
  api.handle(r, [&](HttpResponse out) {
    ++answers;
    status = out.status;
  });
  if (answers != 1 || status < 200 || status > 599) __builtin_trap();
  const auto target = parseTarget(r.target);
  if (target) {
    if (target->path.empty() || target->path.front() != '/') __builtin_trap();
    if (target->path.find('\\') != std::string::npos) __builtin_trap();
    if (target->path.find('\0') != std::string::npos) __builtin_trap();
    if (target->path.find("/../") != std::string::npos || target->path.ends_with("/.."))
      __builtin_trap();
  }
  if (w.link.sent != before) {
    // Reached funkhausd: a valid target, a session, and for a change its CSRF token and no
    // cross-site origin; ids and worker names checked. The one exception: GET /metrics on a
    // console that listens on loopback only (this one) asks for the status without a session
    // (ConsoleApiOptions::loopback), and nothing else.
    if (!target) __builtin_trap();
    const Route route = console::route(r.method, target->path);
    if (route.kind == Route::Kind::kMetrics) {
      if (w.link.last != json{{"cmd", "status"}}) __builtin_trap();
      return 0;
    }
    if (r.cookie != "fh_session=" + w.session.token) __builtin_trap();
    if (route.mutating &&
        (r.csrf_token != w.session.csrf || crossSite(r.origin, r.sec_fetch_site, r.host)))
      __builtin_trap();
    const json& c = w.link.last;
    if (!c.is_object() || !c.contains("cmd") || !c["cmd"].is_string()) __builtin_trap();
    if (c.contains("worker") && !isWorkerName(c["worker"].get<std::string>())) __builtin_trap();
    if (c["cmd"] == "stats-show" || c["cmd"] == "stats-rm")
      if (!isCaptureId(c["id"].get<std::string>())) __builtin_trap();
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  const std::vector<std::string> seeds = {
      "GET\n/api/status\n@\n\n\n\n\n",
      "POST\n/api/workers/encode/restart\n@\nhttps://127.0.0.1:47990\nsame-origin\n@\n"
      "application/json\n{}",
      "POST\n/api/pair\n@\n\n\n@\napplication/json\n{\"pin\":\"1234\",\"address\":\"::1\"}",
      "DELETE\n/api/stats/20261203-140000-run\n@\n\n\n@\n\n",
      "GET\n/api/logs?seconds=60&x=%41\n@\n\n\n\n\n",
      "POST\n/api/login\n\n\n\n\napplication/json\n{\"password\":\"wrong\"}",
      "GET\n/assets/%2e%2e/x\n\n\n\n\n\n",
      "POST\n/api/mode\n@\n\ncross-site\n@\napplication/json\n{\"width\":1280,\"height\":720}",
      // Every route with the session (and for a change its token), as the console's pages ask.
      "GET\n/api/session\n@\n\n\n\n\n", "POST\n/api/logout\n@\n\n\n@\n\n",
      "GET\n/api/events\n@\n\n\n\n\n", "GET\n/api/pairing\n@\n\n\n\n\n",
      "GET\n/api/clients\n@\n\n\n\n\n",
      "POST\n/api/unpair\n@\n\n\n@\napplication/json\n{\"id\":\"0123456789abcdef\"}",
      "GET\n/api/stats\n@\n\n\n\n\n",
      "POST\n/api/stats/start\n@\n\n\n@\napplication/json\n{\"name\":\"run 1\"}",
      "POST\n/api/stats/stop\n@\n\n\n@\n\n",
      "GET\n/api/stats/20261203-140000-run?from=0&count=50\n@\n\n\n\n\n",
      "GET\n/api/stats/20261203-140000-run\n@\n\n\n\n\n", "GET\n/api/logs?seconds=0\n@\n\n\n\n\n",
      "GET\n/metrics\n\n\n\n\n\n", "GET\n/assets/app.js\n\n\n\n\n\n",
      "POST\n/api/login\n\n\n\n\napplication/json\n{\"password\":\"password1\"}",
      "POST\n/api/mode\n@\nhttps://127.0.0.1:47990\nsame-origin\n@\napplication/json\n"
      "{\"width\":1280,\"height\":720,\"refresh_hz\":60}",
      "POST\n/api/stats/start\n@\n\n\n@\napplication/json\n{\"name\":5}",
      "GET\n/api/stats/refused\n@\n\n\n\n\n", "GET\n/api/stats/broken\n@\n\n\n\n\n",
      "GET\n/api/stats/flat\n@\n\n\n\n\n", "GET\n/api/status\nfh_session=\"00\"\n\n\n\n\n"};
  std::vector<std::vector<uint8_t>> out;
  for (const auto& s : seeds) out.emplace_back(s.begin(), s.end());
  return out;
}
