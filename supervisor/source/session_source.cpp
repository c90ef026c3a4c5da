// Session sources: `fixed` from the config (logind: common/platform/linux); user lookup;
// a session from logind's facts.
#include "funkhaus/supervisor/session_source.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace funkhaus::supervisor {
namespace {

Result<SessionInfo> fromPasswd(const passwd& pw) {
  SessionInfo s;
  s.user = pw.pw_name;
  s.uid = pw.pw_uid;
  s.gid = pw.pw_gid;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0)
      return makeError("user '{}': cannot list its groups", s.user);
  }
  groups.resize(static_cast<size_t>(count));
  s.groups = groups;
  s.environment["HOME"] = pw.pw_dir != nullptr ? pw.pw_dir : "/";
  s.environment["USER"] = pw.pw_name;
  s.environment["LOGNAME"] = pw.pw_name;
  s.environment["SHELL"] = pw.pw_shell != nullptr && *pw.pw_shell ? pw.pw_shell : "/bin/sh";
  const std::string runtime = "/run/user/" + std::to_string(pw.pw_uid);
  std::error_code ec;
  if (std::filesystem::is_directory(runtime, ec)) s.environment["XDG_RUNTIME_DIR"] = runtime;
  return s;
}

bool pathExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

class FixedSessionSource : public SessionSource {
 public:
  explicit FixedSessionSource(SessionInfo session) : session_(std::move(session)) {}
  Result<std::optional<SessionInfo>> current() override {
    return std::optional<SessionInfo>(session_);
  }

 private:
  SessionInfo session_;
};

}  // namespace

Result<SessionInfo> lookupUser(const std::string& user) {
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found);
  if (found == nullptr)
    return makeError("user '{}' does not exist{}", user,
                     rc != 0 ? std::string(": ") + std::strerror(rc) : "");
  return fromPasswd(pw);
}

Result<SessionInfo> lookupUid(uid_t uid) {
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found);
  if (found == nullptr)
    return makeError("uid {} has no passwd entry{}", uid,
                     rc != 0 ? std::string(": ") + std::strerror(rc) : "");
  return fromPasswd(pw);
}

Result<SessionInfo> sessionFromLogind(const LogindSession& facts,
                                      const std::function<bool(const std::string&)>& exists_fn) {
  const auto exists = [&](const std::string& p) {
    return exists_fn ? exists_fn(p) : pathExists(p);
  };
  auto s = lookupUid(facts.uid);
  if (!s) return makeError("logind session {}: {}", facts.id, s.error().message);
  s->id = facts.id;
  s->type = facts.type.empty() ? "unspecified" : facts.type;
  s->klass = facts.klass.empty() ? "user" : facts.klass;
  auto& env = s->environment;
  const std::string runtime = "/run/user/" + std::to_string(facts.uid);
  if (exists(runtime)) env["XDG_RUNTIME_DIR"] = runtime;
  env["XDG_SESSION_ID"] = facts.id;
  env["XDG_SESSION_TYPE"] = s->type;
  env["XDG_SESSION_CLASS"] = s->klass;
  if (!facts.seat.empty()) env["XDG_SEAT"] = facts.seat;
  if (!facts.display.empty()) {
    env["DISPLAY"] = facts.display;
    // Where display managers keep the X cookie: GDM in the runtime dir, others in HOME.
    for (const std::string& xauth : {runtime + "/gdm/Xauthority", env["HOME"] + "/.Xauthority"}) {
      if (exists(xauth)) {
        env["XAUTHORITY"] = xauth;
        break;
      }
    }
  }
  if (s->type == "wayland" && exists(runtime + "/wayland-0")) env["WAYLAND_DISPLAY"] = "wayland-0";
  if (exists(runtime + "/bus")) env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + runtime + "/bus";
  return s;
}

Result<std::unique_ptr<SessionSource>> makeSessionSource(const Config& config, RunMode mode) {
  const SessionSourceKind kind = config.session.source.value_or(
      mode == RunMode::kSystem ? SessionSourceKind::kLogind : SessionSourceKind::kFixed);
  if (kind == SessionSourceKind::kLogind) return SessionSource::createLogind("seat0");
  return SessionSource::createFixed(config.session);
}

Result<std::unique_ptr<SessionSource>> SessionSource::createFixed(const SessionConfig& config) {
  std::string user = config.user;
  auto session = user.empty() ? lookupUid(geteuid()) : lookupUser(user);
  if (!session) return makeError("session.user: {}", session.error().message);
  session->id = "fixed";
  session->type = "headless";
  session->klass = "user";
  if (session->uid == geteuid()) {
    // funkhausd's own session (user mode from a desktop, the user unit): the workers reach the
    // same display, runtime dir and bus as funkhausd.
    for (const char* name :
         {"DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS",
          "XDG_SESSION_TYPE", "XDG_SESSION_ID", "PULSE_SERVER"})
      if (const char* value = getenv(name); value != nullptr && *value != '\0')
        session->environment[name] = value;
  }
  for (const auto& [k, v] : config.environment) session->environment[k] = v;
  return std::unique_ptr<SessionSource>(std::make_unique<FixedSessionSource>(std::move(*session)));
}

void SessionSource::watch(boost::asio::io_context&, std::function<void()>) {}

}  // namespace funkhaus::supervisor
