// Session sources: which session's user the workers run as, and when that changes.
// A seam: `logind` (the active session of seat0 via sd-login; its Linux code is
// common/platform/linux/session_source_linux.cpp) and `fixed` (from the config); tests use
// fakes. Used by funkhausd's event loop thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/config.h"

namespace funkhaus::supervisor {

struct SessionInfo {
  std::string id;     // logind session id, or "fixed"
  std::string type;   // x11, wayland, tty, mir, unspecified (logind), headless (fixed)
  std::string klass;  // user, greeter (login screen), lock-screen (logind); user (fixed)
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
  // Calls `changed` on `io` whenever the session may have changed (then read current()).
  // The default: a source whose session never changes. Stops when the source is destroyed.
  virtual void watch(boost::asio::io_context& io, std::function<void()> changed);

  // `fixed`: the configured user (default: funkhausd's own user) and environment; when that is
  // funkhausd's own user, its DISPLAY, WAYLAND_DISPLAY, XAUTHORITY, XDG_RUNTIME_DIR,
  // DBUS_SESSION_BUS_ADDRESS and PULSE_SERVER are passed on too.
  static Result<std::unique_ptr<SessionSource>> createFixed(const SessionConfig& config);
  // `logind`: the active session of `seat`, re-read after every sd_login_monitor wake-up.
  // Greeter (login screen) and lock-screen sessions count as sessions too.
  static Result<std::unique_ptr<SessionSource>> createLogind(const std::string& seat = "seat0");
};

// The session source the config asks for (default: logind in system mode, fixed in user mode).
Result<std::unique_ptr<SessionSource>> makeSessionSource(const Config& config, RunMode mode);

// Looks up a user's uid, gid, supplementary groups and home; fills HOME, USER, LOGNAME, SHELL
// and XDG_RUNTIME_DIR (when /run/user/UID exists).
Result<SessionInfo> lookupUser(const std::string& user);
Result<SessionInfo> lookupUid(uid_t uid);

// What sd-login says about the active session of a seat.
struct LogindSession {
  std::string id;
  std::string seat;
  uid_t uid = 0;
  std::string type;     // sd_session_get_type
  std::string klass;    // sd_session_get_class
  std::string state;    // sd_session_get_state: online, active, closing
  std::string display;  // sd_session_get_display (X11), may be empty
};

// The workers' session for logind's facts: the user's credentials (by uid) and the session
// environment (HOME, USER, XDG_RUNTIME_DIR, XDG_SESSION_*, DISPLAY and XAUTHORITY for X11,
// WAYLAND_DISPLAY for Wayland, DBUS_SESSION_BUS_ADDRESS when the user bus exists).
// `exists` answers whether a path exists (a fake in tests).
Result<SessionInfo> sessionFromLogind(const LogindSession& facts,
                                      const std::function<bool(const std::string&)>& exists = {});

}  // namespace funkhaus::supervisor
