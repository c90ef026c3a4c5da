// A benchmark run's files: a fresh directory per run, children with their output in a log file
// there, and the end of such a log for error messages. Bench main thread.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"

namespace funkhaus::bench {

// root/<name>-<our pid>-<n>, emptied if it was there, created with its parents.
Result<std::filesystem::path> freshRunDir(const std::filesystem::path& root,
                                          const std::string& name);

// The last `bytes` of a file ("..." first when cut), or all of it; "" if it cannot be read.
std::string fileTail(const std::filesystem::path& file, size_t bytes);

// args[0] with args[1..] as the bench's own user, stdout and stderr into `log` (truncated), in
// our process group (a terminal's Ctrl-C stops it too), killed if the bench dies.
// `environment`: the child's whole environment; nullopt: ours.
Result<ChildProcess> spawnLogged(const std::vector<std::string>& args,
                                 const std::filesystem::path& log,
                                 std::optional<std::map<std::string, std::string>> environment);

}  // namespace funkhaus::bench
