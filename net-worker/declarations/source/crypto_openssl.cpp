// md5Hex, randomBytes and hmacSha256 (rtsp_digest.h) on Linux: OpenSSL.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "funkhaus/net/rtsp_digest.h"

namespace funkhaus::net {

std::string md5Hex(std::string_view text) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &n, EVP_md5(), nullptr) != 1)
    throw std::runtime_error("OpenSSL has no MD5");
  return lowerHex(digest, n);
}

void randomBytes(std::span<uint8_t> bytes) {
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("OpenSSL has no random bytes");
}

std::array<uint8_t, 32> hmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  std::array<uint8_t, 32> mac{};
  unsigned int n = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
           mac.data(), &n) == nullptr ||
      n != mac.size())
    throw std::runtime_error("OpenSSL has no HMAC-SHA256");
  return mac;
}

}  // namespace funkhaus::net
