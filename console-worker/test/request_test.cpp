// Request targets, routes, cookies, cross-site checks, capture ids and static file paths.
#include "funkhaus/console/request.h"

#include <gtest/gtest.h>

namespace funkhaus::console {
namespace {

using K = Route::Kind;

std::string refusal(std::string_view target) {
  auto t = parseTarget(target);
  return t ? std::string("accepted") : t.error().message;
}

TEST(Target, PathAndQueryAreDecoded) {
  auto t = parseTarget("/api/logs?seconds=60&x=a%20b+c");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->path, "/api/logs");
  EXPECT_EQ(t->query.at("seconds"), "60");
  EXPECT_EQ(t->query.at("x"), "a b c");
  auto s = parseTarget("/assets/app%2Ejs");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->path, "/assets/app.js");
}

TEST(Target, TraversalBackslashesNulAndBadEscapesAreRefused) {
  for (const char* bad : {"/assets/../../etc/passwd", "/assets/%2e%2e/secret", "/assets/%2E%2E%2Fx",
                          "/a/./b", "/assets/..", "/assets\\..\\x", "/assets/%5c..%5cx", "/a%00b",
                          "/a%0", "/a%zz", "/a%", "relative", "", "http://evil.example/"})
    EXPECT_NE(refusal(bad), "accepted") << bad;
  EXPECT_NE(refusal("/" + std::string(kMaxTarget, 'a')), "accepted");
  std::string many = "/api/logs?";
  for (int i = 0; i < 17; ++i) many += "p" + std::to_string(i) + "=1&";
  EXPECT_EQ(refusal(many), "more than 16 query parameters");
  EXPECT_EQ(refusal("/a?%00=1"), "a bad query parameter");
  EXPECT_EQ(refusal("/..hidden/x"), "accepted") << "only whole '..' segments are traversal";
}

TEST(Routes, EveryApiRouteWithItsMethod) {
  struct Case {
    const char* method;
    const char* path;
    K kind;
    const char* arg;
  };
  const Case cases[] = {
      {"GET", "/", K::kIndex, ""},
      {"GET", "/index.html", K::kIndex, ""},
      {"GET", "/assets/app.js", K::kAsset, "app.js"},
      {"GET", "/metrics", K::kMetrics, ""},
      {"POST", "/api/login", K::kLogin, ""},
      {"GET", "/api/session", K::kSession, ""},
      {"POST", "/api/logout", K::kLogout, ""},
      {"GET", "/api/status", K::kStatus, ""},
      {"GET", "/api/events", K::kEvents, ""},
      {"POST", "/api/workers/encode/restart", K::kWorker, "encode"},
      {"POST", "/api/mode", K::kMode, ""},
      {"GET", "/api/pairing", K::kPairing, ""},
      {"POST", "/api/pair", K::kPair, ""},
      {"GET", "/api/clients", K::kClients, ""},
      {"POST", "/api/unpair", K::kUnpair, ""},
      {"GET", "/api/stats", K::kStatsList, ""},
      {"POST", "/api/stats/start", K::kStatsStart, ""},
      {"POST", "/api/stats/stop", K::kStatsStop, ""},
      {"GET", "/api/stats/20261203-140000-run_1", K::kStatsShow, "20261203-140000-run_1"},
      {"DELETE", "/api/stats/20261203-140000", K::kStatsRm, "20261203-140000"},
      {"GET", "/api/logs", K::kLogs, ""},
  };
  for (const Case& c : cases) {
    const Route r = route(c.method, c.path);
    EXPECT_EQ(r.kind, c.kind) << c.method << " " << c.path;
    EXPECT_EQ(r.arg, c.arg) << c.path;
    EXPECT_EQ(r.api, std::string_view(c.path).starts_with("/api/")) << c.path;
    EXPECT_EQ(r.mutating, std::string_view(c.method) != "GET") << c.path;
  }
  EXPECT_EQ(route("POST", "/api/workers/encode/restart").action, "restart");
  EXPECT_EQ(route("GET", "/api/login").kind, K::kMethodNotAllowed);
  EXPECT_EQ(route("GET", "/api/workers/encode/restart").kind, K::kMethodNotAllowed);
  EXPECT_EQ(route("POST", "/api/status").kind, K::kMethodNotAllowed);
  EXPECT_EQ(route("PUT", "/api/stats/x").kind, K::kMethodNotAllowed);
  EXPECT_EQ(route("POST", "/").kind, K::kMethodNotAllowed);
  EXPECT_EQ(route("POST", "/api/workers/Encode/restart").kind, K::kNotFound);
  EXPECT_EQ(route("POST", "/api/workers/encode/reboot").kind, K::kNotFound);
  EXPECT_EQ(route("GET", "/api/stats/a b").kind, K::kNotFound);
  EXPECT_EQ(route("GET", "/api/nothing").kind, K::kNotFound);
  EXPECT_TRUE(route("GET", "/api/nothing").api) << "an unknown /api path still needs a session";
  EXPECT_EQ(route("GET", "/etc/passwd").kind, K::kNotFound);
}

TEST(CaptureId, LettersDigitsDotUnderscoreDashUpToSixtyFour) {
  EXPECT_TRUE(isCaptureId("20261203-140000"));
  EXPECT_TRUE(isCaptureId("a.b_c-D9"));
  EXPECT_TRUE(isCaptureId(std::string(64, 'x')));
  for (const std::string& bad : {std::string(), std::string("."), std::string(".."),
                                 std::string(65, 'x'), std::string("a/b"), std::string("a\\b"),
                                 std::string("a b"), std::string("a\0b", 3), std::string("é")})
    EXPECT_FALSE(isCaptureId(bad)) << bad;
  EXPECT_TRUE(isWorkerName("encode"));
  EXPECT_FALSE(isWorkerName("Encode"));
  EXPECT_FALSE(isWorkerName("../x"));
}

TEST(Cookies, TheNamedCookieAmongOthers) {
  EXPECT_EQ(cookieValue("a=1; fh_session=abc; b=2", "fh_session"), "abc");
  EXPECT_EQ(cookieValue("fh_session=\"q\"", "fh_session"), "q");
  EXPECT_FALSE(cookieValue("xfh_session=abc", "fh_session").has_value());
  EXPECT_FALSE(cookieValue("", "fh_session").has_value());
  EXPECT_EQ(cookieValue("fh_session=", "fh_session"), "");
}

TEST(CrossSite, SecFetchSiteAndOriginMustBeThisConsole) {
  const std::string host = "127.0.0.1:47990";
  EXPECT_FALSE(crossSite("", "", host)) << "curl sends neither";
  EXPECT_FALSE(crossSite("https://127.0.0.1:47990", "same-origin", host));
  EXPECT_FALSE(crossSite("", "none", host));
  EXPECT_TRUE(crossSite("", "cross-site", host));
  EXPECT_TRUE(crossSite("", "same-site", host));
  EXPECT_TRUE(crossSite("https://evil.example", "", host));
  EXPECT_TRUE(crossSite("null", "", host));
  EXPECT_TRUE(crossSite("http://127.0.0.1:47990", "", host)) << "not over HTTPS";
  EXPECT_TRUE(crossSite("https://127.0.0.1:47990", "", "")) << "no Host to compare";
}

TEST(Assets, OnlyPlainSegmentsBelowTheRoot) {
  EXPECT_EQ(assetPath("/srv/web/assets", "app.js"),
            std::filesystem::path("/srv/web/assets/app.js"));
  EXPECT_EQ(assetPath("/srv/web/assets", "fonts/a.woff2"),
            std::filesystem::path("/srv/web/assets/fonts/a.woff2"));
  for (const char* bad : {"", "../x", "a//b", ".hidden", "a/.git/x", "a b", "/etc/passwd", "a/"})
    EXPECT_FALSE(assetPath("/srv/web/assets", bad).has_value()) << bad;
  EXPECT_EQ(contentTypeOf("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(contentTypeOf("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(contentTypeOf("a.bin"), "application/octet-stream");
}

}  // namespace
}  // namespace funkhaus::console
