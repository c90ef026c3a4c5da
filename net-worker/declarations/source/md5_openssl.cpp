// md5Hex (rtsp_digest.h) on Linux: OpenSSL's EVP.
#include <openssl/evp.h>

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

}  // namespace funkhaus::net
