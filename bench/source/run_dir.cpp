// A run's directory, logged children and log tails (run_dir.h).
#include "funkhaus/bench/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "funkhaus/common/unique_fd.h"

namespace funkhaus::bench {

namespace fs = std::filesystem;

Result<fs::path> freshRunDir(const fs::path& root, const std::string& name) {
  static int counter = 0;
  fs::path dir = root / (name + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!fs::create_directories(dir, ec) || ec)
    return makeError("cannot create {}: {}", dir.string(), ec.message());
  return dir;
}

std::string fileTail(const fs::path& file, size_t bytes) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return text.size() > bytes ? "..." + text.substr(text.size() - bytes) : text;
}

Result<ChildProcess> spawnLogged(const std::vector<std::string>& args, const fs::path& log,
                                 std::optional<std::map<std::string, std::string>> environment) {
  UniqueFd out(open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out.valid()) return makeError("{}: {}", log.string(), std::strerror(errno));
  ChildSpec spec;
  spec.program = args.front();
  spec.args.assign(args.begin() + 1, args.end());
  spec.stdout_fd = out.get();    // and stderr
  spec.drop_privileges = false;  // the bench's own user: funkhausd decides what its workers get
  // In the bench's process group: a terminal's Ctrl-C stops both. A bench that dies takes the
  // child along: the death signal.
  spec.own_process_group = false;
  spec.environment = std::move(environment);
  return ChildProcess::spawn(spec);
}

}  // namespace funkhaus::bench
