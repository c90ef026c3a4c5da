// Fixed session source and user lookup.
#include "funkhaus/supervisor/session_source.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace funkhaus::supervisor {

Result<SessionInfo> lookupUser(const std::string& user) {
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found);
  if (found == nullptr)
    return makeError("user '{}' does not exist{}", user,
                     rc != 0 ? std::string(": ") + std::strerror(rc) : "");
  SessionInfo s;
  s.user = pw.pw_name;
  s.uid = pw.pw_uid;
  s.gid = pw.pw_gid;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count);
  }
  groups.resize(static_cast<size_t>(count));
  s.groups = groups;
  s.environment["HOME"] = pw.pw_dir;
  s.environment["USER"] = pw.pw_name;
  s.environment["LOGNAME"] = pw.pw_name;
  s.environment["SHELL"] = pw.pw_shell != nullptr ? pw.pw_shell : "/bin/sh";
  const std::string runtime = "/run/user/" + std::to_string(pw.pw_uid);
  std::error_code ec;
  if (std::filesystem::is_directory(runtime, ec)) s.environment["XDG_RUNTIME_DIR"] = runtime;
  return s;
}

namespace {

class FixedSessionSource : public SessionSource {
 public:
  explicit FixedSessionSource(SessionInfo session) : session_(std::move(session)) {}
  Result<std::optional<SessionInfo>> current() override {
    return std::optional<SessionInfo>(session_);
  }
  int wakeFd() const override { return -1; }
  void acknowledgeWake() override {}

 private:
  SessionInfo session_;
};

}  // namespace

Result<std::unique_ptr<SessionSource>> SessionSource::createFixed(const SessionConfig& config) {
  std::string user = config.user;
  if (user.empty()) {
    passwd* pw = getpwuid(geteuid());
    if (pw == nullptr) return makeError("funkhausd's own uid {} has no passwd entry", geteuid());
    user = pw->pw_name;
  }
  auto session = lookupUser(user);
  if (!session) return makeError("session.user: {}", session.error().message);
  session->id = "fixed";
  session->type = "headless";
  for (const auto& [k, v] : config.environment) session->environment[k] = v;
  return std::unique_ptr<SessionSource>(std::make_unique<FixedSessionSource>(std::move(*session)));
}

}  // namespace funkhaus::supervisor
