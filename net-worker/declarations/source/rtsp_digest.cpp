#include "funkhaus/net/rtsp_digest.h"

#include <openssl/evp.h>

#include <cstdint>
#include <stdexcept>

namespace funkhaus::net {

std::string lowerHex(const uint8_t* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

std::string md5Hex(std::string_view text) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &n, EVP_md5(), nullptr) != 1)
    throw std::runtime_error("OpenSSL has no MD5");
  return lowerHex(digest, n);
}

std::string digestHa1(std::string_view user, std::string_view realm, std::string_view password) {
  std::string text;
  text.append(user).append(":").append(realm).append(":").append(password);
  return md5Hex(text);
}

}  // namespace funkhaus::net
