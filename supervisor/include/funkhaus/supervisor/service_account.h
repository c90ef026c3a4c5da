// Who funkhausd's host-scope workers run as and where their state lives, per run mode: in system
// mode the unprivileged service user (worker_table.h kServiceUser) and /var/lib/funkhaus; in user
// mode funkhausd's own user and $XDG_STATE_HOME/funkhaus (else ~/.local/state/funkhaus).
// funkhausd's event loop thread.
#pragma once

#include <optional>
#include <string>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/config.h"

namespace funkhaus::supervisor {

// The state directory host workers get as --state-dir.
std::string stateDirectory(RunMode mode);

// The credentials a worker of `policy` runs with outside a session: nullopt keeps funkhausd's
// own (user mode). System mode looks up `user` (kServiceUser): an error names it when it does
// not exist or is root — such a worker never runs as root.
Result<std::optional<Credentials>> serviceCredentials(RunMode mode, const std::string& user);

}  // namespace funkhaus::supervisor
