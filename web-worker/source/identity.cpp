// The host identity files (identity.h).
#include "funkhaus/web/identity.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "funkhaus/common/files.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::web {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxPemBytes = 64 * 1024;

// Reads `name`; a file that exists but `parse` refuses is moved aside (noted). nullopt: make one.
template <class T, class Parse>
Result<std::optional<T>> loadOrSetAside(const fs::path& path, Parse parse,
                                        std::vector<std::string>& notes) {
  if (fileMissing(path)) return std::optional<T>();
  auto text = readSmallFile(path, kMaxPemBytes);
  std::string why;
  if (text) {
    auto parsed = parse(*text);
    if (parsed) return std::optional<T>(std::move(*parsed));
    why = parsed.error().message;
  } else {
    why = text.error().message;
  }
  auto aside = moveAside(path);
  if (!aside) return aside.error();
  notes.push_back(
      fmt::format("{} is damaged ({}): moved aside to {}", path.string(), why, aside->string()));
  return std::optional<T>();
}

}  // namespace

std::string makeUuid() {
  Bytes b = randomBytes(16);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  std::string hex = hexEncode(b);
  for (char& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                     hex.substr(16, 4), hex.substr(20));
}

bool isUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

Result<Identity> loadOrCreateIdentity(const fs::path& state_dir) {
  if (auto ok = ensurePrivateDirectory(state_dir); !ok) return ok.error();
  // funkhaus-web and funkhaus-console share the identity: one makes it, the other waits and
  // loads it (never two certificates, one renamed over the other).
  UniqueFd lock(::open((state_dir / "host-identity.lock").c_str(),
                       O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock.valid() || ::flock(lock.get(), LOCK_EX) != 0)
    return makeError("cannot lock {}: {}", (state_dir / "host-identity.lock").string(),
                     std::strerror(errno));
  std::vector<std::string> notes;
  const fs::path key_path = state_dir / "host-key.pem";
  const fs::path cert_path = state_dir / "host-cert.pem";
  const fs::path id_path = state_dir / "host-id";

  auto key = loadOrSetAside<PrivateKey>(key_path, PrivateKey::fromPem, notes);
  if (!key) return key.error();
  auto cert = loadOrSetAside<Certificate>(cert_path, Certificate::fromPem, notes);
  if (!cert) return cert.error();
  if (!key->has_value()) {
    auto made = PrivateKey::generateRsa2048();
    if (!made) return made.error();
    if (auto ok = writeFileAtomic(key_path, made->toPem()); !ok) return ok.error();
    notes.push_back(fmt::format("made a new RSA-2048 host key {}", key_path.string()));
    key->emplace(std::move(*made));
    if (cert->has_value()) {  // it certified the old key: keep it for the owner, unused
      auto aside = moveAside(cert_path);
      if (!aside) return aside.error();
      notes.push_back(fmt::format("{} belonged to the old key: moved aside to {}",
                                  cert_path.string(), aside->string()));
      cert->reset();
    }
  }
  if (cert->has_value() && !(**cert).matches(**key)) {
    auto aside = moveAside(cert_path);
    if (!aside) return aside.error();
    notes.push_back(fmt::format("{} does not match the host key: moved aside to {}",
                                cert_path.string(), aside->string()));
    cert->reset();
  }
  if (!cert->has_value()) {
    auto made = Certificate::selfSigned(**key, kHostCommonName);
    if (!made) return made.error();
    if (auto ok = writeFileAtomic(cert_path, made->toPem()); !ok) return ok.error();
    notes.push_back(fmt::format("made a new host certificate {} (fingerprint {})",
                                cert_path.string(), made->fingerprint()));
    cert->emplace(std::move(*made));
  }

  auto id = loadOrSetAside<std::string>(
      id_path,
      [](const std::string& text) -> Result<std::string> {
        std::string t = text;
        while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
        if (!isUuid(t)) return makeError("not a UUID");
        return t;
      },
      notes);
  if (!id) return id.error();
  if (!id->has_value()) {
    std::string made = makeUuid();
    if (auto ok = writeFileAtomic(id_path, made + "\n"); !ok) return ok.error();
    notes.push_back(fmt::format("made a new host id {} in {}", made, id_path.string()));
    id->emplace(std::move(made));
  }
  return Identity{std::move(**key), std::move(**cert), std::move(**id), std::move(notes)};
}

}  // namespace funkhaus::web
