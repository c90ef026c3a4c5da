// funkhausd configuration: the TOML file parsed once into a typed, validated struct.
// Used by funkhausd's main thread at start and on reload (SIGHUP).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/restart_policy.h"

namespace funkhaus::supervisor {

inline constexpr const char* kDefaultConfigPath = "/etc/funkhaus/funkhaus.toml";

enum class RunMode {
  kSystem,  // workers run as the session's user (funkhausd is root)
  kUser,    // workers run as funkhausd's own user (development, tests, demos)
};

enum class SessionSourceKind {
  kLogind,  // the active session of seat0
  kFixed,   // the user and environment named in [session]
};

struct SessionConfig {
  std::optional<SessionSourceKind> source;  // unset: logind in system mode, fixed in user mode
  std::string user;                         // fixed source: the user (unset: funkhausd's own)
  std::map<std::string, std::string> environment;  // fixed source: extra environment
};

struct Config {
  std::optional<RunMode> mode;  // unset: system when started as root, user otherwise
  SessionConfig session;
  RestartPolicyConfig restart;
  Duration heartbeat_timeout = std::chrono::seconds(1);  // no heartbeat this long: replaced
  Duration stop_grace = std::chrono::seconds(1);         // SIGTERM -> SIGKILL
  std::vector<std::string> workers = {"capture", "encode", "net"};  // start order
  std::string control_socket;              // empty: the mode's default path
  std::string control_group = "funkhaus";  // members may change things
};

// Parses TOML text. Every error names the source, the line and the key, e.g.
// "funkhaus.toml:7: restart.max_restarts: must be an integer from 1 to 1000".
Result<Config> parseConfig(std::string_view text, std::string_view source_name);

// Reads and parses `path`. A missing file is not an error when `required` is false: the
// defaults then apply (funkhausd runs with no config file at all).
Result<Config> loadConfig(const std::filesystem::path& path, bool required);

const char* toString(RunMode mode);
const char* toString(SessionSourceKind kind);

}  // namespace funkhaus::supervisor
