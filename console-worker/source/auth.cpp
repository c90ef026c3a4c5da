// Password hashing, tokens, sessions and the login rate limit (auth.h) with OpenSSL.
#include "funkhaus/console/auth.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "funkhaus/common/files.h"

namespace funkhaus::console {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
constexpr uint64_t kMaxN = uint64_t{1} << 20, kMaxR = 32, kMaxP = 16;
constexpr size_t kMaxFileBytes = 64 * 1024;

std::string hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

std::optional<std::string> unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + i + 2, value, 16);
    if (ec != std::errc() || end != text.data() + i + 2) return std::nullopt;
    out.push_back(static_cast<char>(value));
  }
  return out;
}

std::optional<uint64_t> number(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

bool scrypt(std::string_view password, std::string_view salt, const ScryptParams& p,
            unsigned char* out) {
  // Memory scrypt needs: 128 * r * (N + p) bytes, and some slack.
  const uint64_t max_mem = 128 * p.r * (p.n + p.p) + (uint64_t{1} << 20);
  return EVP_PBE_scrypt(password.data(), password.size(),
                        reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), p.n, p.r,
                        p.p, max_mem, out, kHashBytes) == 1;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

bool isLowerHex(std::string_view text, size_t size) {
  return text.size() == size && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string randomHex(size_t bytes) {
  std::string buffer(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buffer.data()), static_cast<int>(bytes)) != 1)
    std::abort();  // no randomness: nothing here may go on
  return hex(reinterpret_cast<const unsigned char*>(buffer.data()), bytes);
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return hex(digest, sizeof digest);
}

bool constantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> hashPassword(std::string_view password, ScryptParams params) {
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1) return makeError("no random bytes for the salt");
  unsigned char out[kHashBytes];
  if (!scrypt(password, std::string_view(reinterpret_cast<char*>(salt), sizeof salt), params, out))
    return makeError("scrypt failed (N={}, r={}, p={})", params.n, params.r, params.p);
  return fmt::format("$scrypt${}${}${}${}${}", params.n, params.r, params.p, hex(salt, sizeof salt),
                     hex(out, sizeof out));
}

bool verifyPassword(std::string_view password, std::string_view stored) {
  // "", "scrypt", N, r, p, salt, hash
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (parts.size() < 8) {
    const size_t dollar = stored.find('$', start);
    parts.push_back(stored.substr(
        start, dollar == std::string_view::npos ? std::string_view::npos : dollar - start));
    if (dollar == std::string_view::npos) break;
    start = dollar + 1;
  }
  if (parts.size() != 7 || !parts[0].empty() || parts[1] != "scrypt") return false;
  const auto n = number(parts[2]), r = number(parts[3]), p = number(parts[4]);
  if (!n || !r || !p || *n < 2 || *n > kMaxN || (*n & (*n - 1)) != 0 || *r < 1 || *r > kMaxR ||
      *p < 1 || *p > kMaxP)
    return false;
  const auto salt = unhex(parts[5]);
  const auto hash = unhex(parts[6]);
  if (!salt || salt->empty() || salt->size() > 64 || !hash || hash->size() != kHashBytes)
    return false;
  unsigned char out[kHashBytes];
  if (!scrypt(password, *salt, ScryptParams{*n, *r, *p}, out)) return false;
  return constantTimeEqual(std::string_view(reinterpret_cast<char*>(out), sizeof out), *hash);
}

// ---- Secrets ---------------------------------------------------------------------------------

Result<Secrets> Secrets::open(const fs::path& state_dir, ScryptParams params) {
  if (auto ok = ensurePrivateDirectory(state_dir); !ok) return ok.error();
  Secrets s;
  s.dir_ = state_dir;
  s.params_ = params;
  auto load = [&](const char* name, auto valid) -> Result<std::string> {
    const fs::path path = state_dir / name;
    if (fileMissing(path)) return std::string();
    auto text = readSmallFile(path, kMaxFileBytes);
    if (text && valid(trimmed(*text))) return trimmed(*text);
    auto aside = moveAside(path);
    if (!aside) return aside.error();
    s.notes_.push_back(
        fmt::format("{} is damaged: moved aside to {}", path.string(), aside->string()));
    return std::string();
  };
  auto password = load("console-password", [](const std::string& t) {
    return t.starts_with("$scrypt$") && t.size() < 512;
  });
  if (!password) return password.error();
  auto token = load("metrics-token", [](const std::string& t) { return isLowerHex(t, 64); });
  if (!token) return token.error();
  s.password_hash_ = std::move(*password);
  s.token_sha256_ = std::move(*token);
  return s;
}

bool Secrets::checkPassword(std::string_view password) const {
  return hasPassword() && verifyPassword(password, password_hash_);
}

Result<void> Secrets::setPassword(std::string_view password) {
  auto hashed = hashPassword(password, params_);
  if (!hashed) return hashed.error();
  if (auto ok = writeFileAtomic(dir_ / "console-password", *hashed + "\n"); !ok) return ok;
  password_hash_ = std::move(*hashed);
  return {};
}

bool Secrets::checkMetricsToken(std::string_view token) const {
  return hasMetricsToken() && constantTimeEqual(sha256Hex(token), token_sha256_);
}

Result<std::string> Secrets::newMetricsToken() {
  std::string token = randomHex(32);
  std::string digest = sha256Hex(token);
  if (auto ok = writeFileAtomic(dir_ / "metrics-token", digest + "\n"); !ok) return ok.error();
  token_sha256_ = std::move(digest);
  return token;
}

// ---- SessionStore ----------------------------------------------------------------------------

SessionStore::SessionStore(fs::path file, std::function<int64_t()> now_s)
    : file_(std::move(file)), now_s_(std::move(now_s)) {
  if (file_.empty() || fileMissing(file_)) return;
  auto text = readSmallFile(file_, kMaxFileBytes);
  if (!text) return;
  const json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return;
  for (const json& e : j) {
    if (!e.is_object()) continue;
    const auto key = e.value("token_sha256", std::string());
    const auto csrf = e.value("csrf", std::string());
    const auto expires = e.value("expires", int64_t{0});
    const auto created = e.value("created", int64_t{0});
    if (isLowerHex(key, 64) && isLowerHex(csrf, 64) && sessions_.size() < kMaxSessions)
      sessions_[key] = Session{csrf, expires, created};
  }
  prune();
}

void SessionStore::prune() {
  const int64_t now = now_s_();
  std::erase_if(sessions_, [now](const auto& entry) { return entry.second.expires <= now; });
}

void SessionStore::save() const {
  if (file_.empty()) return;
  json out = json::array();
  for (const auto& [key, s] : sessions_)
    out.push_back(
        {{"token_sha256", key}, {"csrf", s.csrf}, {"expires", s.expires}, {"created", s.created}});
  (void)writeFileAtomic(file_, out.dump() + "\n");  // lost: a restart asks for a new login
}

SessionStore::Created SessionStore::create() {
  prune();
  while (sessions_.size() >= kMaxSessions) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.created < b.second.created;
    });
    sessions_.erase(oldest);
  }
  Created c{randomHex(32), randomHex(32)};
  const int64_t now = now_s_();
  sessions_[sha256Hex(c.token)] = Session{c.csrf, now + kLifetimeS, now};
  save();
  return c;
}

std::optional<std::string> SessionStore::csrfOf(std::string_view token) {
  if (!isLowerHex(token, 64)) return std::nullopt;
  const auto it = sessions_.find(sha256Hex(token));
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= now_s_()) {
    sessions_.erase(it);
    save();
    return std::nullopt;
  }
  return it->second.csrf;
}

void SessionStore::remove(std::string_view token) {
  if (sessions_.erase(sha256Hex(token)) > 0) save();
}

void SessionStore::clear() {
  sessions_.clear();
  save();
}

// ---- LoginLimiter ----------------------------------------------------------------------------

LoginLimiter::LoginLimiter(std::function<int64_t()> now_ms, uint32_t per_address, uint32_t global,
                           int64_t window_ms)
    : now_ms_(std::move(now_ms)),
      per_address_(per_address),
      global_(global),
      window_ms_(window_ms) {}

void LoginLimiter::prune() {
  const int64_t now = now_ms_();
  while (!failures_.empty() && failures_.front().first + window_ms_ <= now) failures_.pop_front();
}

bool LoginLimiter::allowed(const std::string& address) {
  prune();
  if (failures_.size() >= global_) return false;
  const auto mine = std::count_if(failures_.begin(), failures_.end(),
                                  [&](const auto& f) { return f.second == address; });
  return static_cast<uint32_t>(mine) < per_address_;
}

void LoginLimiter::failed(const std::string& address) {
  prune();
  failures_.emplace_back(now_ms_(), address);
}

int64_t LoginLimiter::retryAfterS() {
  prune();
  if (failures_.empty()) return 0;
  return std::max<int64_t>(1, (failures_.front().first + window_ms_ - now_ms_() + 999) / 1000);
}

}  // namespace funkhaus::console
