// Session sources: which session's user the workers run as, and when that changes.
// A seam: `fixed` (from the config) today, `logind` (seat0 via sd-login) next. Used by
// funkhausd's event loop thread.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/config.h"

namespace funkhaus::supervisor {

struct SessionInfo {
  std::string id;    // logind session id, or "fixed"
  std::string type;  // x11, wayland, tty, greeter, headless
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::map<std::string, std::string> environment;  // HOME, USER, XDG_RUNTIME_DIR, DISPLAY, ...
  friend bool operator==(const SessionInfo&, const SessionInfo&) = default;
};

class SessionSource {
 public:
  virtual ~SessionSource() = default;
  // The session workers should run in now, or nullopt when there is none (e.g. no one at
  // seat0). Errors are reported and the previous session kept.
  virtual Result<std::optional<SessionInfo>> current() = 0;
  // An fd that becomes readable when the session may have changed, or -1.
  virtual int wakeFd() const = 0;
  // Called after wakeFd() became readable, before current().
  virtual void acknowledgeWake() = 0;

  // `fixed`: the configured user (default: funkhausd's own user) and environment.
  static Result<std::unique_ptr<SessionSource>> createFixed(const SessionConfig& config);
};

// Looks up a user's uid, gid, supplementary groups and home; fills HOME, USER, LOGNAME, SHELL
// and XDG_RUNTIME_DIR (when /run/user/UID exists).
Result<SessionInfo> lookupUser(const std::string& user);

}  // namespace funkhaus::supervisor
