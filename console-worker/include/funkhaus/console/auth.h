// The console's secrets and who is logged in: the console password as a salted scrypt hash, the
// metrics token as its SHA-256 (both 0600 files in the state directory, written atomically),
// sessions (a random cookie token and its CSRF token, kept as the token's SHA-256 in a 0600
// file so that a restarted console knows them), and the login rate limit. funkhaus-console's
// main thread.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::console {

// scrypt's cost: N = 2^15, r = 8, p = 1 takes 32 MiB and about 0.1 s (tests use less).
struct ScryptParams {
  uint64_t n = uint64_t{1} << 15;
  uint64_t r = 8;
  uint64_t p = 1;
};

// "$scrypt$N$r$p$<salt hex>$<hash hex>" with a random 16-byte salt and a 32-byte hash.
Result<std::string> hashPassword(std::string_view password, ScryptParams params = {});
// The password matches the stored text (constant-time compare). False for malformed text or
// parameters beyond N = 2^20, r = 32, p = 16 (a damaged file cannot make a login take minutes).
bool verifyPassword(std::string_view password, std::string_view stored);

std::string randomHex(size_t bytes);
std::string sha256Hex(std::string_view data);
// Equal length and bytes, in time that does not depend on where they differ.
bool constantTimeEqual(std::string_view a, std::string_view b);

// console-password and metrics-token in the state directory.
class Secrets {
 public:
  // Reads what is there; a damaged file is moved aside (noted in `notes`).
  static Result<Secrets> open(const std::filesystem::path& state_dir, ScryptParams params = {});

  bool hasPassword() const { return !password_hash_.empty(); }
  bool checkPassword(std::string_view password) const;
  Result<void> setPassword(std::string_view password);
  bool hasMetricsToken() const { return !token_sha256_.empty(); }
  bool checkMetricsToken(std::string_view token) const;
  // A new random token (64 hex digits); only its SHA-256 is kept.
  Result<std::string> newMetricsToken();
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  std::filesystem::path dir_;
  ScryptParams params_;
  std::string password_hash_;
  std::string token_sha256_;
  std::vector<std::string> notes_;
};

// Logged-in browsers. A session lives 12 h from its login; at most kMaxSessions (the oldest
// goes). `now_s`: Unix seconds (injected for tests).
class SessionStore {
 public:
  static constexpr size_t kMaxSessions = 32;
  static constexpr int64_t kLifetimeS = 12 * 3600;

  // `file` empty: kept in memory only. A damaged file is ignored (everyone logs in again).
  SessionStore(std::filesystem::path file, std::function<int64_t()> now_s);

  struct Created {
    std::string token;  // the cookie's value: 64 hex digits
    std::string csrf;   // 64 hex digits
  };
  Created create();
  // The session's CSRF token, or nullopt (unknown or expired token).
  std::optional<std::string> csrfOf(std::string_view token);
  void remove(std::string_view token);
  void clear();  // a new password logs everyone out
  size_t size() const { return sessions_.size(); }

 private:
  struct Session {
    std::string csrf;
    int64_t expires = 0;
    int64_t created = 0;
  };
  void prune();
  void save() const;

  std::filesystem::path file_;
  std::function<int64_t()> now_s_;
  std::map<std::string, Session> sessions_;  // by SHA-256 of the token
};

// Failed logins: at most `per_address` per window from one address and `global` from all.
class LoginLimiter {
 public:
  LoginLimiter(std::function<int64_t()> now_ms, uint32_t per_address = 5, uint32_t global = 20,
               int64_t window_ms = 60'000);
  // A login from `address` may be tried now.
  bool allowed(const std::string& address);
  void failed(const std::string& address);
  // Seconds until the next try may come (for Retry-After).
  int64_t retryAfterS();

 private:
  void prune();

  std::function<int64_t()> now_ms_;
  uint32_t per_address_, global_;
  int64_t window_ms_;
  std::deque<std::pair<int64_t, std::string>> failures_;  // oldest first
};

}  // namespace funkhaus::console
