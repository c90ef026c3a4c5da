// X authorization for the driver's X servers: one MIT-MAGIC-COOKIE-1 per server, kept in an
// Xauthority file that the session's clients use (XAUTHORITY) inside a private directory.
// Used on the driver's main thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "funkhaus/common/result.h"

namespace funkhaus::vdisplay {

inline constexpr char kCookieName[] = "MIT-MAGIC-COOKIE-1";

struct XCookie {
  std::array<uint8_t, 16> data{};
};

// 16 random bytes from the kernel.
Result<XCookie> newCookie();

// Writes (atomically, mode 0600) an Xauthority file with one entry: family Wild, any display
// number, MIT-MAGIC-COOKIE-1 = cookie. Xvfb -auth reads it; so do xcb/Xlib clients.
Result<void> writeXauthority(const std::string& path, const XCookie& cookie);

// A directory only this user can enter (0700), made under `parent`; removed with its files when
// destroyed.
class PrivateDir {
 public:
  static Result<PrivateDir> create(const std::string& parent, const std::string& prefix);
  PrivateDir(PrivateDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  PrivateDir& operator=(PrivateDir&&) = delete;
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  ~PrivateDir();

  const std::string& path() const { return path_; }

 private:
  explicit PrivateDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace funkhaus::vdisplay
