// The console API against a fake funkhausd: sessions, CSRF, cross-site, limits, routing of each
// call to its control request, static files, /metrics, funkhausd's requests.
#include "funkhaus/console/console_api.h"
#include "funkhaus/console/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace funkhaus::console {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

HttpRequest req(std::string method, std::string target) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  return r;
}

class FakeLink final : public ControlLink {
 public:
  void request(const json& request, std::function<void(Result<std::string>)> done) override {
    sent.push_back(request);
    if (broken) return done(makeError("the channel broke"));
    done(reply);
  }
  std::vector<json> sent;
  std::string reply = R"({"ok":true,"from":"funkhausd"})";
  bool broken = false;
};

class ConsoleApiTest : public ::testing::Test {
 protected:
  explicit ConsoleApiTest(bool loopback = true)
      : dir_(fs::temp_directory_path() / ("console-api-" + std::to_string(getpid()))),
        secrets_(open()),
        sessions_("", [this] { return now_s_; }),
        limiter_([this] { return now_ms_; }) {
    api_.emplace(ConsoleApiOptions{dir_ / "web", loopback}, secrets_, sessions_, limiter_, link_);
    fs::create_directories(dir_ / "web/assets");
    std::ofstream(dir_ / "web/index.html") << "<!doctype html><title>console</title>";
    std::ofstream(dir_ / "web/assets/app.js") << "console.log(1)";
    std::ofstream(dir_ / "secret.txt") << "secret";
  }
  ~ConsoleApiTest() override { fs::remove_all(dir_); }

  Secrets open() {
    fs::remove_all(dir_);
    auto s = Secrets::open(dir_, ScryptParams{1024, 8, 1});
    if (!s) std::abort();
    return std::move(*s);
  }

  HttpResponse call(HttpRequest r) {
    if (r.host.empty()) r.host = "127.0.0.1:47990";
    if (r.peer.empty()) r.peer = "127.0.0.1";
    std::optional<HttpResponse> out;
    api_->handle(r, [&](HttpResponse response) {
      EXPECT_FALSE(out.has_value()) << "answered twice";
      out = std::move(response);
    });
    EXPECT_TRUE(out.has_value()) << r.target;
    return out.value_or(HttpResponse{});
  }
  HttpResponse get(const std::string& target, bool with_session = true) {
    HttpRequest r = req("GET", target);
    if (with_session) r.cookie = "fh_session=" + session_.token;
    return call(r);
  }
  HttpResponse post(const std::string& target, const std::string& body = "",
                    const std::string& method = "POST") {
    HttpRequest r = req(method, target);
    r.cookie = "fh_session=" + session_.token;
    r.csrf_token = session_.csrf;
    r.origin = "https://127.0.0.1:47990";
    r.sec_fetch_site = "same-origin";
    r.content_type = body.empty() ? "" : "application/json";
    r.body = body;
    return call(r);
  }
  static std::string headerOf(const HttpResponse& r, const std::string& name) {
    for (const auto& [n, v] : r.headers)
      if (n == name) return v;
    return "";
  }
  void logIn() {
    ASSERT_TRUE(secrets_.setPassword("hunter22hunter").ok());
    HttpRequest r = req("POST", "/api/login");
    r.content_type = "application/json";
    r.body = R"({"password":"hunter22hunter"})";
    const HttpResponse out = call(r);
    ASSERT_EQ(out.status, 200) << out.body;
    const std::string cookie = headerOf(out, "Set-Cookie");
    ASSERT_TRUE(cookie.starts_with("fh_session=")) << cookie;
    EXPECT_NE(cookie.find("; HttpOnly; Secure; SameSite=Strict; Path=/"), std::string::npos);
    session_.token = cookie.substr(11, 64);
    session_.csrf = json::parse(out.body)["csrf"].get<std::string>();
  }

  fs::path dir_;
  int64_t now_s_ = 1'000'000, now_ms_ = 0;
  Secrets secrets_;
  SessionStore sessions_;
  LoginLimiter limiter_;
  FakeLink link_;
  std::optional<ConsoleApi> api_;
  SessionStore::Created session_;
};

const std::vector<std::pair<std::string, std::string>> kApi = {
    {"GET", "/api/session"},
    {"POST", "/api/logout"},
    {"GET", "/api/status"},
    {"GET", "/api/events"},
    {"POST", "/api/workers/encode/restart"},
    {"POST", "/api/workers/net/stop"},
    {"POST", "/api/workers/net/start"},
    {"POST", "/api/mode"},
    {"GET", "/api/pairing"},
    {"POST", "/api/pair"},
    {"GET", "/api/clients"},
    {"POST", "/api/unpair"},
    {"GET", "/api/stats"},
    {"POST", "/api/stats/start"},
    {"POST", "/api/stats/stop"},
    {"GET", "/api/stats/20261203-140000"},
    {"DELETE", "/api/stats/20261203-140000"},
    {"GET", "/api/logs?seconds=60"},
    {"GET", "/api/nothing-here"}};

TEST_F(ConsoleApiTest, WithoutAValidSessionEveryApiAnswers401AndNothingReachesFunkhausd) {
  logIn();
  for (const auto& [method, target] : kApi) {
    for (const std::string& cookie :
         {std::string(), std::string("fh_session=") + std::string(64, 'a'),
          "fh_session=" + session_.csrf, std::string("other=") + session_.token}) {
      HttpRequest r = req(method, target);
      r.cookie = cookie;
      r.csrf_token = session_.csrf;
      const HttpResponse out = call(r);
      EXPECT_EQ(out.status, 401) << method << " " << target << " cookie " << cookie;
      EXPECT_EQ(headerOf(out, "Cache-Control"), "no-store");
    }
  }
  EXPECT_TRUE(link_.sent.empty());
}

TEST_F(ConsoleApiTest, LoginNeedsThePasswordAndIsRateLimited) {
  HttpRequest r = req("POST", "/api/login");
  r.content_type = "application/json";
  r.body = R"({"password":"whatever1"})";
  EXPECT_EQ(call(r).status, 409) << "no password set yet";
  ASSERT_TRUE(secrets_.setPassword("hunter22hunter").ok());
  for (int i = 0; i < 5; ++i) {
    const HttpResponse out = call(r);
    EXPECT_EQ(out.status, 401);
    EXPECT_TRUE(headerOf(out, "Set-Cookie").empty());
  }
  r.body = R"({"password":"hunter22hunter"})";
  const HttpResponse limited = call(r);
  EXPECT_EQ(limited.status, 429) << "even the right password, for a minute";
  EXPECT_EQ(headerOf(limited, "Retry-After"), "60");
  HttpRequest other = r;
  other.peer = "127.0.0.2";
  EXPECT_EQ(call(other).status, 200) << "another address may";
  now_ms_ += 60'000;
  EXPECT_EQ(call(r).status, 200);
  r.body = R"({"pass":"x"})";
  EXPECT_EQ(call(r).status, 400);
  r.body = "not json";
  EXPECT_EQ(call(r).status, 400);
  r.content_type = "text/plain";
  r.body = R"({"password":"hunter22hunter"})";
  EXPECT_EQ(call(r).status, 415) << "a form post cannot log in";
}

TEST_F(ConsoleApiTest, CrossSiteAndMissingOrWrongCsrfAreRefused) {
  logIn();
  for (const auto& [method, target] : kApi) {
    if (method == "GET") continue;
    HttpRequest r = req(method, target);
    r.cookie = "fh_session=" + session_.token;
    EXPECT_EQ(call(r).status, 403) << "no X-CSRF-Token: " << target;
    r.csrf_token = std::string(64, '0');
    EXPECT_EQ(call(r).status, 403) << "wrong X-CSRF-Token: " << target;
    r.csrf_token = session_.csrf.substr(0, 63);
    EXPECT_EQ(call(r).status, 403) << target;
    r.csrf_token = session_.csrf;
    r.origin = "https://evil.example";
    EXPECT_EQ(call(r).status, 403) << "cross-site Origin: " << target;
    r.origin = "";
    r.sec_fetch_site = "cross-site";
    EXPECT_EQ(call(r).status, 403) << "cross-site fetch: " << target;
  }
  HttpRequest login = req("POST", "/api/login");
  login.sec_fetch_site = "cross-site";
  login.content_type = "application/json";
  login.body = R"({"password":"hunter22hunter"})";
  EXPECT_EQ(call(login).status, 403) << "no login from another site either";
  EXPECT_TRUE(link_.sent.empty());
}

TEST_F(ConsoleApiTest, EachCallBecomesItsControlRequest) {
  logIn();
  const std::vector<std::tuple<HttpResponse, json>> cases = {
      {get("/api/status"), {{"cmd", "status"}}},
      {post("/api/workers/encode/restart"), {{"cmd", "restart"}, {"worker", "encode"}}},
      {post("/api/workers/net/stop"), {{"cmd", "stop"}, {"worker", "net"}}},
      {post("/api/mode", R"({"width":1280,"height":720,"refresh_hz":60,"evil":1})"),
       {{"cmd", "mode"}, {"width", 1280}, {"height", 720}, {"refresh_hz", 60}}},
      {get("/api/pairing"), {{"cmd", "pairing"}}},
      {post("/api/pair", R"({"pin":"1234"})"), {{"cmd", "pair"}, {"pin", "1234"}}},
      {get("/api/clients"), {{"cmd", "clients"}}},
      {post("/api/unpair", R"({"id":"abcdef0123"})"), {{"cmd", "unpair"}, {"id", "abcdef0123"}}},
      {get("/api/stats"), {{"cmd", "stats-list"}}},
      {post("/api/stats/start", R"({"name":"run 1"})"),
       {{"cmd", "stats-start"}, {"name", "run 1"}}},
      {post("/api/stats/start"), {{"cmd", "stats-start"}}},
      {post("/api/stats/stop"), {{"cmd", "stats-stop"}}},
      {get("/api/stats/20261203-140000?from=10&count=5"),
       {{"cmd", "stats-show"}, {"id", "20261203-140000"}, {"from", 10}, {"count", 5}}},
      {post("/api/stats/20261203-140000", "", "DELETE"),
       {{"cmd", "stats-rm"}, {"id", "20261203-140000"}}},
      {get("/api/logs?seconds=120"), {{"cmd", "logs"}, {"seconds", 120}}},
      {get("/api/logs"), {{"cmd", "logs"}, {"seconds", 300}}},
  };
  ASSERT_EQ(link_.sent.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(link_.sent[i], std::get<1>(cases[i]));
    EXPECT_EQ(std::get<0>(cases[i]).status, 200);
    EXPECT_EQ(std::get<0>(cases[i]).body, link_.reply) << "funkhausd's JSON passed through";
  }
  EXPECT_EQ(get("/api/logs?seconds=0").status, 400);
  EXPECT_EQ(get("/api/logs?seconds=3601").status, 400);
  EXPECT_EQ(get("/api/logs?seconds=1x").status, 400);
  EXPECT_EQ(post("/api/stats/start", R"({"name":7})").status, 400);
  EXPECT_EQ(post("/api/pair", "[1]").status, 400);
  EXPECT_EQ(get("/api/stats/%2e%2e").status, 400);
  EXPECT_EQ(get("/api/stats/a%20b").status, 404);
  EXPECT_EQ(link_.sent.size(), cases.size()) << "refused before funkhausd";
}

// funkhausd's stats-show with from/count (stats_recorder.cpp statsSlice) over a capture of 120.
class PagingLink final : public ControlLink {
 public:
  void request(const json& r, std::function<void(Result<std::string>)> done) override {
    sent.push_back(r);
    const size_t from = r.value("from", size_t{0}), count = r.value("count", size_t{0});
    json t = json::array(), fps = json::array();
    for (size_t i = from; i < std::min<size_t>(120, from + count); ++i) {
      t.push_back(i + 1);
      fps.push_back(i % 7 == 0 ? json() : json(60.0 - double(i % 3)));
    }
    done(json({{"ok", true},
               {"capture",
                {{"id", r["id"]},
                 {"samples", 120},
                 {"from", from},
                 {"t", t},
                 {"series", {{"capture.fps", fps}}}}}})
             .dump());
  }
  std::vector<json> sent;
};

TEST_F(ConsoleApiTest, AWholeCaptureIsFetchedInPagesAndAnsweredAsOne) {
  logIn();
  PagingLink paging;
  ConsoleApi api(ConsoleApiOptions{dir_ / "web", true}, secrets_, sessions_, limiter_, paging);
  HttpRequest r = req("GET", "/api/stats/20261203-140000-run");
  r.cookie = "fh_session=" + session_.token;
  r.host = "127.0.0.1:47990";
  std::optional<HttpResponse> out;
  api.handle(r, [&](HttpResponse response) { out = std::move(response); });
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->status, 200) << out->body;
  const json capture = json::parse(out->body)["capture"];
  ASSERT_EQ(capture["t"].size(), 120u);
  ASSERT_EQ(capture["series"]["capture.fps"].size(), 120u);
  for (size_t i = 0; i < 120; ++i) EXPECT_EQ(capture["t"][i], i + 1);
  EXPECT_TRUE(capture["series"]["capture.fps"][7].is_null()) << "absent stays absent";
  EXPECT_EQ(capture["samples"], 120);
  EXPECT_FALSE(capture.contains("from"));
  ASSERT_EQ(paging.sent.size(), 3u) << "pages of 50";
  EXPECT_EQ(
      paging.sent[2],
      json({{"cmd", "stats-show"}, {"id", "20261203-140000-run"}, {"from", 100}, {"count", 50}}));
}

TEST_F(ConsoleApiTest, FunkhausdsRefusalsAndABrokenChannelAreErrors) {
  logIn();
  link_.reply = R"({"ok":false,"error":"no worker 'gpu'"})";
  const HttpResponse refused = post("/api/workers/gpu/restart");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(json::parse(refused.body), json({{"error", "no worker 'gpu'"}}));
  link_.reply = "garbage";
  EXPECT_EQ(get("/api/status").status, 502);
  link_.broken = true;
  EXPECT_EQ(get("/api/status").status, 502);
}

TEST_F(ConsoleApiTest, SessionLogoutAndEvents) {
  logIn();
  const HttpResponse s = get("/api/session");
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(json::parse(s.body)["csrf"], session_.csrf);
  api_->setLastStatus(R"({"ok":true})");
  const HttpResponse events = get("/api/events");
  EXPECT_TRUE(events.event_stream);
  EXPECT_EQ(events.content_type, "text/event-stream");
  EXPECT_NE(events.body.find("retry: 1000\n"), std::string::npos);
  EXPECT_NE(events.body.find("event: status\ndata: {\"ok\":true}\n\n"), std::string::npos);
  EXPECT_EQ(ConsoleApi::event("x", "a\nb"), "event: x\ndata: a\ndata: b\n\n");
  const HttpResponse out = post("/api/logout");
  EXPECT_EQ(out.status, 200);
  EXPECT_NE(headerOf(out, "Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(get("/api/session").status, 401);
}

TEST_F(ConsoleApiTest, StaticFilesFromTheWebRootOnlyWithSecurityHeaders) {
  const HttpResponse index = get("/", false);
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(headerOf(index, "Content-Security-Policy"),
            "default-src 'self'; frame-ancestors 'none'");
  EXPECT_EQ(headerOf(index, "X-Frame-Options"), "DENY");
  EXPECT_EQ(headerOf(index, "X-Content-Type-Options"), "nosniff");
  const HttpResponse js = get("/assets/app.js", false);
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.body, "console.log(1)");
  EXPECT_EQ(get("/assets/missing.js", false).status, 404);
  EXPECT_EQ(get("/secret.txt", false).status, 404);
  for (const char* traversal :
       {"/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt", "/assets/..\\..\\secret.txt", "/assets/app.js%00.png"}) {
    const HttpResponse out = get(traversal, false);
    EXPECT_EQ(out.status, 400) << traversal;
    EXPECT_EQ(out.body.find("secret"), std::string::npos);
  }
}

TEST_F(ConsoleApiTest, MetricsOnLoopbackNeedNoToken) {
  link_.reply = R"({"ok":true,"sessions":[]})";
  const HttpResponse out = get("/metrics", false);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.content_type, kMetricsContentType);
  EXPECT_NE(out.body.find("funkhaus_up 1\n"), std::string::npos);
}

class OffLoopbackTest : public ConsoleApiTest {
 protected:
  OffLoopbackTest() : ConsoleApiTest(false) {}
};

TEST_F(OffLoopbackTest, MetricsNeedTheBearerToken) {
  link_.reply = R"({"ok":true,"sessions":[]})";
  const HttpResponse none = get("/metrics", false);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(headerOf(none, "WWW-Authenticate"), "Bearer realm=\"funkhaus\"");
  auto token = secrets_.newMetricsToken();
  ASSERT_TRUE(token.ok());
  HttpRequest r = req("GET", "/metrics");
  r.authorization = "Bearer " + *token;
  EXPECT_EQ(call(r).status, 200);
  r.authorization = "Bearer " + token->substr(0, 63) + (token->back() == '0' ? "1" : "0");
  EXPECT_EQ(call(r).status, 401);
  r.authorization = *token;
  EXPECT_EQ(call(r).status, 401);
}

TEST_F(ConsoleApiTest, FunkhausdsRequestsSetThePasswordAndMakeTokens) {
  logIn();
  EXPECT_EQ(json::parse(api_->answer(R"({"cmd":"set-password","password":"short"})"))["ok"], false);
  EXPECT_EQ(json::parse(api_->answer(R"({"cmd":"set-password","password":"new password 1"})")),
            json({{"ok", true}}));
  EXPECT_TRUE(secrets_.checkPassword("new password 1"));
  EXPECT_EQ(get("/api/session").status, 401) << "a new password logs everyone out";
  const json token = json::parse(api_->answer(R"({"cmd":"new-metrics-token"})"));
  ASSERT_EQ(token["ok"], true);
  EXPECT_TRUE(secrets_.checkMetricsToken(token["token"].get<std::string>()));
  EXPECT_EQ(json::parse(api_->answer(R"({"cmd":"launch"})"))["ok"], false);
  EXPECT_EQ(json::parse(api_->answer("nonsense"))["ok"], false);
}

}  // namespace
}  // namespace funkhaus::console
