// Xauthority files and the driver's private directory.
#include "funkhaus/vdisplay/xauth.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "funkhaus/common/unique_fd.h"

namespace funkhaus::vdisplay {
namespace {

constexpr uint16_t kFamilyWild = 0xFFFF;

void put16(std::vector<uint8_t>& out, size_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value & 0xFF));
}

void putCounted(std::vector<uint8_t>& out, const void* data, size_t size) {
  put16(out, size);
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + size);
}

}  // namespace

Result<XCookie> newCookie() {
  XCookie c;
  size_t got = 0;
  while (got < c.data.size()) {
    const ssize_t n = getrandom(c.data.data() + got, c.data.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return makeError("getrandom: {}", std::strerror(errno));
    }
    got += static_cast<size_t>(n);
  }
  return c;
}

Result<void> writeXauthority(const std::string& path, const XCookie& cookie) {
  // Entry: family, address, display number (empty: any), auth name, auth data; each counted
  // field is a big-endian 16-bit length followed by its bytes.
  std::vector<uint8_t> entry;
  put16(entry, kFamilyWild);
  putCounted(entry, "", 0);
  putCounted(entry, "", 0);
  putCounted(entry, kCookieName, sizeof kCookieName - 1);
  putCounted(entry, cookie.data.data(), cookie.data.size());
  const std::string temp = path + ".new";
  UniqueFd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return makeError("creating {}: {}", temp, std::strerror(errno));
  if (write(fd.get(), entry.data(), entry.size()) != static_cast<ssize_t>(entry.size())) {
    unlink(temp.c_str());
    return makeError("writing {}: {}", temp, std::strerror(errno));
  }
  fd.reset();
  if (rename(temp.c_str(), path.c_str()) != 0) {
    unlink(temp.c_str());
    return makeError("renaming {} to {}: {}", temp, path, std::strerror(errno));
  }
  return {};
}

Result<PrivateDir> PrivateDir::create(const std::string& parent, const std::string& prefix) {
  std::string templ = parent + "/" + prefix + "XXXXXX";
  if (mkdtemp(templ.data()) == nullptr)
    return makeError("creating a private directory in {}: {}", parent, std::strerror(errno));
  if (chmod(templ.c_str(), 0700) != 0) {
    const int err = errno;
    rmdir(templ.c_str());
    return makeError("chmod 0700 {}: {}", templ, std::strerror(err));
  }
  return PrivateDir(templ);
}

PrivateDir::~PrivateDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace funkhaus::vdisplay
