// Fuzz target: a whole console request (method, target, cookie, Origin, Sec-Fetch-Site, CSRF
// token, Content-Type, body; one per line) through the API with a fake funkhausd. Any input gets
// exactly one answer; nothing reaches funkhausd without the session, the CSRF token of a change
// and a same-site origin; every path is checked (no '..', backslash or NUL) before use.
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
    done(std::string(R"({"ok":true})"));
  }
  int sent = 0;
  json last;
};

struct World {
  World() {
    dir = std::filesystem::temp_directory_path() / ("console-fuzz-" + std::to_string(getpid()));
    auto s = Secrets::open(dir, ScryptParams{1024, 1, 1});
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
  LoginLimiter limiter{[] { return int64_t{0}; }};
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
    // cross-site origin; ids and worker names checked.
    if (!target || r.cookie != "fh_session=" + w.session.token) __builtin_trap();
    const Route route = console::route(r.method, target->path);
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
      "POST\n/api/mode\n@\n\ncross-site\n@\napplication/json\n{\"width\":1280,\"height\":720}"};
  std::vector<std::vector<uint8_t>> out;
  for (const auto& s : seeds) out.emplace_back(s.begin(), s.end());
  return out;
}
