// Atomic small-file writes and moving damaged files aside (see files.h).
#include "funkhaus/common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "funkhaus/common/unique_fd.h"

namespace funkhaus {

namespace fs = std::filesystem;

Result<void> ensurePrivateDirectory(const fs::path& dir, mode_t mode) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return makeError(ErrorCode::kBadConfig, "cannot create {}: {}", dir.string(), ec.message());
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return makeError(ErrorCode::kBadConfig, "{} is not a directory", dir.string());
  if ((st.st_mode & 07777) != mode && ::chmod(dir.c_str(), mode) != 0)
    return makeError(ErrorCode::kBadConfig, "cannot make {} mode {:o}: {}", dir.string(), mode,
                     std::strerror(errno));
  return {};
}

Result<void> writeFileAtomic(const fs::path& path, std::string_view data, mode_t mode) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::string temp = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  UniqueFd fd(::mkstemp(temp.data()));
  if (!fd.valid())
    return makeError("cannot create a temp file in {}: {}", dir.string(), std::strerror(errno));
  auto fail = [&](const char* what) {
    const int e = errno;
    ::unlink(temp.c_str());
    return makeError("{} {}: {}", what, temp, std::strerror(e));
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("cannot set the mode of");
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("cannot sync");
  fd.reset();
  if (::rename(temp.c_str(), path.c_str()) != 0) return fail("cannot rename into place");
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.valid()) ::fsync(dir_fd.get());  // the rename itself is durable
  return {};
}

Result<std::string> readSmallFile(const fs::path& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return makeError("cannot open {}: {}", path.string(), std::strerror(errno));
  std::string out;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return makeError("cannot read {}: {}", path.string(), std::strerror(errno));
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes)
      return makeError("{} is larger than {} bytes", path.string(), max_bytes);
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

bool fileMissing(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) != 0 && errno == ENOENT;
}

Result<fs::path> moveAside(const fs::path& path, std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  fs::path target = path.string() + ".bad-" + stamp;
  for (int n = 1; !fileMissing(target); ++n) {
    if (n > 1000) return makeError("cannot find a free name to move {} aside", path.string());
    target = path.string() + ".bad-" + stamp + "." + std::to_string(n);
  }
  if (::rename(path.c_str(), target.c_str()) != 0)
    return makeError("cannot move {} aside to {}: {}", path.string(), target.string(),
                     std::strerror(errno));
  return target;
}

}  // namespace funkhaus
