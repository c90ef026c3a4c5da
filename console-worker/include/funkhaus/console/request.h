// The console's checks of what a browser sends, before anything acts on it: the request target
// (percent-decoded path and query; traversal, backslashes and NUL refused), the route it names,
// cookies, whether a request comes from another site, capture ids and static file paths. Pure
// functions; any thread. Every input is untrusted (fuzzed: test/fuzz).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "funkhaus/common/result.h"

namespace funkhaus::console {

inline constexpr size_t kMaxTarget = 2048;
inline constexpr size_t kMaxQueryPairs = 16;
inline constexpr size_t kMaxBody = 64 * 1024;

struct Target {
  std::string path;  // decoded, starts with '/'
  std::map<std::string, std::string> query;
};

// The target of a request line ("/api/logs?seconds=60"). Errors (answered 400): not
// origin-form, longer than kMaxTarget, a bad %-escape, NUL, a backslash, a "." or ".." segment
// (also when %-encoded), more than kMaxQueryPairs pairs.
Result<Target> parseTarget(std::string_view target);

struct Route {
  enum class Kind {
    kNotFound,
    kMethodNotAllowed,
    kIndex,       // GET /
    kAsset,       // GET /assets/<file>: `arg` is the path below assets/
    kMetrics,     // GET /metrics
    kLogin,       // POST /api/login
    kSession,     // GET /api/session
    kLogout,      // POST /api/logout
    kStatus,      // GET /api/status
    kEvents,      // GET /api/events
    kWorker,      // POST /api/workers/<arg>/<action: restart|stop|start>
    kMode,        // POST /api/mode
    kPairing,     // GET /api/pairing
    kPair,        // POST /api/pair
    kClients,     // GET /api/clients
    kUnpair,      // POST /api/unpair
    kStatsList,   // GET /api/stats
    kStatsStart,  // POST /api/stats/start
    kStatsStop,   // POST /api/stats/stop
    kStatsShow,   // GET /api/stats/<arg>
    kStatsRm,     // DELETE /api/stats/<arg>
    kLogs,        // GET /api/logs?seconds=N
  };
  Kind kind = Kind::kNotFound;
  std::string arg;
  std::string action;
  bool api = false;       // under /api/: needs a session (but login and session)
  bool mutating = false;  // POST or DELETE: needs the CSRF token
};

// The route of a method ("GET", "POST", "DELETE", ...) and decoded path. A capture id or worker
// name that fails its check gives kNotFound.
Route route(std::string_view method, std::string_view path);

// ^[A-Za-z0-9._-]{1,64}$ and not "." or "..".
bool isCaptureId(std::string_view id);
// [a-z0-9-]{1,32}: a worker name as the worker table spells them (funkhausd checks it is one).
bool isWorkerName(std::string_view name);

// The value of cookie `name` in a Cookie header ("a=1; fh_session=..."), if there.
std::optional<std::string> cookieValue(std::string_view header, std::string_view name);

// The request comes from another site: Sec-Fetch-Site other than same-origin or none, or an
// Origin other than https://<host> (the Host header). Absent headers (curl): not cross-site.
bool crossSite(std::string_view origin, std::string_view sec_fetch_site, std::string_view host);

// The file below `root` for an asset path ("app.js", "fonts/x.woff2"), or nullopt when a
// segment is empty, starts with '.', or has characters beyond [A-Za-z0-9._-].
std::optional<std::filesystem::path> assetPath(const std::filesystem::path& root,
                                               std::string_view relative);
// The Content-Type of a static file by its extension.
std::string contentTypeOf(const std::filesystem::path& file);

}  // namespace funkhaus::console
