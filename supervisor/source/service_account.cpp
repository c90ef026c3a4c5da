// Service account: the host workers' user and state directory.
#include "funkhaus/supervisor/service_account.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace funkhaus::supervisor {

std::string stateDirectory(RunMode mode) {
  if (mode == RunMode::kSystem) return "/var/lib/funkhaus";
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state == '/')
    return std::string(state) + "/funkhaus";
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home != '/') {
    const passwd* pw = getpwuid(geteuid());
    home = pw != nullptr ? pw->pw_dir : "/tmp";
  }
  return std::string(home) + "/.local/state/funkhaus";
}

Result<std::optional<Credentials>> serviceCredentials(RunMode mode, const std::string& user) {
  if (mode == RunMode::kUser) return std::optional<Credentials>();
  errno = 0;
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr)
    return makeError(
        "system mode runs it as the service user '{}', which does not exist{}{}: create it "
        "(systemd-sysusers funkhaus.conf, or adduser --system --no-create-home --home "
        "/var/lib/funkhaus {}); it does not run as root",
        user, errno != 0 ? ": " : "", errno != 0 ? std::strerror(errno) : "", user);
  if (pw->pw_uid == 0 || pw->pw_gid == 0)
    return makeError("the service user '{}' is root (uid {} gid {}): refusing to run it as root",
                     user, pw->pw_uid, pw->pw_gid);
  return std::optional<Credentials>(Credentials{pw->pw_uid, pw->pw_gid, {}});
}

}  // namespace funkhaus::supervisor
