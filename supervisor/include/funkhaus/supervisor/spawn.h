// Starting one worker process: credentials of the session user, no new privileges, no
// capabilities, parent-death signal, only its channel (fd 3) and stderr pipe left open.
// Used by funkhausd's event loop thread.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::supervisor {

struct SpawnSpec {
  std::string path;
  std::vector<std::string> args;  // argv[1..]
  std::map<std::string, std::string> environment;
  std::optional<Credentials> credentials;  // unset: keep funkhausd's uid/gid
  int channel_fd = -1;                     // becomes fd 3
  int output_fd = -1;                      // becomes stdout and stderr
};

struct SpawnedProcess {
  pid_t pid = -1;
  UniqueFd pidfd;  // readable when the process exits
};

Result<SpawnedProcess> spawnWorker(const SpawnSpec& spec);

}  // namespace funkhaus::supervisor
