// md5Hex, randomBytes and hmacSha256 (rtsp_digest.h) on Windows: the system's BCrypt (Debian
// has no mingw OpenSSL).
#include <windows.h>
// bcrypt.h after windows.h.
#include <bcrypt.h>

#include <stdexcept>

#include "funkhaus/net/rtsp_digest.h"

namespace funkhaus::net {

namespace {

// One hash (HMAC when `key` is not empty) of `data` with algorithm `id` into `out`.
void hash(LPCWSTR id, std::span<const uint8_t> key, std::span<const uint8_t> data,
          std::span<uint8_t> out) {
  // BCRYPT_*_ALG_HANDLE needs Windows 10; an opened provider works everywhere (and in Wine).
  BCRYPT_ALG_HANDLE algorithm = nullptr;
  const ULONG flags = key.empty() ? 0 : BCRYPT_ALG_HANDLE_HMAC_FLAG;
  if (!BCRYPT_SUCCESS(BCryptOpenAlgorithmProvider(&algorithm, id, nullptr, flags)))
    throw std::runtime_error("BCrypt has no such hash");
  BCRYPT_HASH_HANDLE handle = nullptr;
  // BCrypt takes non-const pointers but only reads the key and the input.
  auto* secret = const_cast<PUCHAR>(key.data());
  auto* input = const_cast<PUCHAR>(data.data());
  const bool ok =
      BCRYPT_SUCCESS(BCryptCreateHash(algorithm, &handle, nullptr, 0, secret,
                                      static_cast<ULONG>(key.size()), 0)) &&
      BCRYPT_SUCCESS(BCryptHashData(handle, input, static_cast<ULONG>(data.size()), 0)) &&
      BCRYPT_SUCCESS(BCryptFinishHash(handle, out.data(), static_cast<ULONG>(out.size()), 0));
  if (handle != nullptr) BCryptDestroyHash(handle);
  BCryptCloseAlgorithmProvider(algorithm, 0);
  if (!ok) throw std::runtime_error("BCrypt's hash failed");
}

}  // namespace

std::string md5Hex(std::string_view text) {
  uint8_t digest[16];
  hash(BCRYPT_MD5_ALGORITHM, {},
       std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), digest);
  return lowerHex(digest, sizeof digest);
}

void randomBytes(std::span<uint8_t> bytes) {
  if (!BCRYPT_SUCCESS(BCryptGenRandom(nullptr, bytes.data(), static_cast<ULONG>(bytes.size()),
                                      BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
    throw std::runtime_error("BCrypt has no random bytes");
}

std::array<uint8_t, 32> hmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  std::array<uint8_t, 32> mac{};
  hash(BCRYPT_SHA256_ALGORITHM, key, data, mac);
  return mac;
}

}  // namespace funkhaus::net
