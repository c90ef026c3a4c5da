// md5Hex (rtsp_digest.h) on Windows: the system's BCrypt (Debian has no mingw OpenSSL).
#include <windows.h>
// bcrypt.h after windows.h.
#include <bcrypt.h>

#include <stdexcept>

#include "funkhaus/net/rtsp_digest.h"

namespace funkhaus::net {

std::string md5Hex(std::string_view text) {
  // BCRYPT_MD5_ALG_HANDLE needs Windows 10; an opened provider works everywhere (and in Wine).
  BCRYPT_ALG_HANDLE algorithm = nullptr;
  if (!BCRYPT_SUCCESS(BCryptOpenAlgorithmProvider(&algorithm, BCRYPT_MD5_ALGORITHM, nullptr, 0)))
    throw std::runtime_error("BCrypt has no MD5");
  BCRYPT_HASH_HANDLE hash = nullptr;
  uint8_t digest[16];
  // BCryptHashData takes a non-const pointer but only reads the input.
  auto* input = reinterpret_cast<PUCHAR>(const_cast<char*>(text.data()));
  const bool ok = BCRYPT_SUCCESS(BCryptCreateHash(algorithm, &hash, nullptr, 0, nullptr, 0, 0)) &&
                  BCRYPT_SUCCESS(BCryptHashData(hash, input, static_cast<ULONG>(text.size()), 0)) &&
                  BCRYPT_SUCCESS(BCryptFinishHash(hash, digest, sizeof digest, 0));
  if (hash != nullptr) BCryptDestroyHash(hash);
  BCryptCloseAlgorithmProvider(algorithm, 0);
  if (!ok) throw std::runtime_error("BCrypt's MD5 failed");
  return lowerHex(digest, sizeof digest);
}

}  // namespace funkhaus::net
