// Request checks and routing (request.h).
#include "funkhaus/console/request.h"

#include <algorithm>
#include <vector>

namespace funkhaus::console {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %-decodes `text` ('+' is a space in a query). nullopt: a bad escape or a NUL.
std::optional<std::string> decode(std::string_view text, bool query) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hexValue(text[i + 1]), lo = hexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && query) {
      c = ' ';
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    out.push_back(text.substr(start, at == std::string_view::npos ? at : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

bool allIn(std::string_view text, auto allowed) {
  return std::all_of(text.begin(), text.end(), allowed);
}

bool idChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

Result<Target> parseTarget(std::string_view target) {
  if (target.empty() || target.front() != '/')
    return makeError("the request target must be a path starting with '/'");
  if (target.size() > kMaxTarget) return makeError("request target over {} bytes", kMaxTarget);
  const size_t q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  if (raw_path.find('\\') != std::string_view::npos) return makeError("a backslash in the path");
  auto path = decode(raw_path, false);
  if (!path) return makeError("a bad %-escape or NUL in the path");
  if (path->find('\\') != std::string::npos) return makeError("a backslash in the path");
  for (std::string_view segment : split(std::string_view(*path).substr(1), '/'))
    if (segment == "." || segment == "..") return makeError("a '.' or '..' segment in the path");
  Target t;
  t.path = std::move(*path);
  if (q == std::string_view::npos) return t;
  const std::string_view query = target.substr(q + 1);
  if (query.empty()) return t;
  for (std::string_view pair : split(query, '&')) {
    if (pair.empty()) continue;
    if (t.query.size() >= kMaxQueryPairs)
      return makeError("more than {} query parameters", kMaxQueryPairs);
    const size_t eq = pair.find('=');
    auto name = decode(pair.substr(0, eq), true);
    auto value =
        decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!name || !value || name->empty()) return makeError("a bad query parameter");
    t.query[*name] = *value;
  }
  return t;
}

bool isCaptureId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && id != "." && id != ".." && allIn(id, idChar);
}

bool isWorkerName(std::string_view name) {
  return !name.empty() && name.size() <= 32 && allIn(name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Route route(std::string_view method, std::string_view path) {
  Route r;
  const bool get = method == "GET";
  const bool post = method == "POST";
  auto want = [&](bool method_ok, Route::Kind kind) {
    r.kind = method_ok ? kind : Route::Kind::kMethodNotAllowed;
    return r;
  };
  if (path == "/" || path == "/index.html") return want(get, Route::Kind::kIndex);
  if (path == "/metrics") return want(get, Route::Kind::kMetrics);
  if (path.starts_with("/assets/")) {
    r.arg = std::string(path.substr(8));
    return want(get, Route::Kind::kAsset);
  }
  if (path != "/api" && !path.starts_with("/api/")) return r;
  r.api = true;
  r.mutating = method == "POST" || method == "DELETE";
  const auto parts = split(path.substr(1), '/');  // "api", ...
  const size_t n = parts.size();
  const std::string_view a = n > 1 ? parts[1] : "", b = n > 2 ? parts[2] : "",
                         c = n > 3 ? parts[3] : "";
  if (n == 2) {
    if (a == "login") return want(post, Route::Kind::kLogin);
    if (a == "session") return want(get, Route::Kind::kSession);
    if (a == "logout") return want(post, Route::Kind::kLogout);
    if (a == "status") return want(get, Route::Kind::kStatus);
    if (a == "events") return want(get, Route::Kind::kEvents);
    if (a == "mode") return want(post, Route::Kind::kMode);
    if (a == "pairing") return want(get, Route::Kind::kPairing);
    if (a == "pair") return want(post, Route::Kind::kPair);
    if (a == "clients") return want(get, Route::Kind::kClients);
    if (a == "unpair") return want(post, Route::Kind::kUnpair);
    if (a == "stats") return want(get, Route::Kind::kStatsList);
    if (a == "logs") return want(get, Route::Kind::kLogs);
    return r;
  }
  if (n == 4 && a == "workers" && isWorkerName(b) &&
      (c == "restart" || c == "stop" || c == "start")) {
    r.arg = std::string(b);
    r.action = std::string(c);
    return want(post, Route::Kind::kWorker);
  }
  if (n == 3 && a == "stats") {
    if (b == "start") return want(post, Route::Kind::kStatsStart);
    if (b == "stop") return want(post, Route::Kind::kStatsStop);
    if (!isCaptureId(b)) return r;
    r.arg = std::string(b);
    if (method == "DELETE") return want(true, Route::Kind::kStatsRm);
    return want(get, Route::Kind::kStatsShow);
  }
  return r;
}

std::optional<std::string> cookieValue(std::string_view header, std::string_view name) {
  for (std::string_view part : split(header, ';')) {
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos || part.substr(0, eq) != name) continue;
    std::string_view value = part.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return std::string(value);
  }
  return std::nullopt;
}

bool crossSite(std::string_view origin, std::string_view sec_fetch_site, std::string_view host) {
  if (!sec_fetch_site.empty() && sec_fetch_site != "same-origin" && sec_fetch_site != "none")
    return true;
  if (origin.empty()) return false;
  return host.empty() || origin != "https://" + std::string(host);
}

std::optional<std::filesystem::path> assetPath(const std::filesystem::path& root,
                                               std::string_view relative) {
  if (relative.empty() || relative.size() > 256) return std::nullopt;
  std::filesystem::path out = root;
  for (std::string_view segment : split(relative, '/')) {
    if (segment.empty() || segment.front() == '.' || !allIn(segment, idChar)) return std::nullopt;
    out /= std::string(segment);
  }
  return out;
}

std::string contentTypeOf(const std::filesystem::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace funkhaus::console
