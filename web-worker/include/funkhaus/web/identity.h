// The host's persistent GameStream identity in the state directory: host-key.pem (RSA-2048),
// host-cert.pem (self-signed, the certificate clients pin) and host-id (a UUID clients key the
// host on). Made on first start; a damaged file is moved aside and reported, never overwritten.
// funkhaus-web main thread, at start.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/web/crypto.h"

namespace funkhaus::web {

inline constexpr const char* kHostCommonName = "NVIDIA GameStream Server";

struct Identity {
  PrivateKey key;
  Certificate cert;
  std::string unique_id;  // lower-case UUID text
  // What was done to get here (made, moved aside), one line each, for the log.
  std::vector<std::string> notes;
};

// Loads the identity from `state_dir` (made 0700 when missing), makes what is missing and
// moves damaged files aside as `<name>.bad-<time>` (noted). Files are written 0600, atomically,
// under an flock of host-identity.lock (funkhaus-console shares the identity).
// Errors: the directory cannot be made or written.
Result<Identity> loadOrCreateIdentity(const std::filesystem::path& state_dir);

// A random (version 4) UUID, and the check of one (36 characters, hex and dashes).
std::string makeUuid();
bool isUuid(std::string_view text);

}  // namespace funkhaus::web
