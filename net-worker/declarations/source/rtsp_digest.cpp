// The RTSP Digest hashes on md5Hex (crypto_openssl.cpp on Linux, crypto_windows.cpp on Windows).
#include "funkhaus/net/rtsp_digest.h"

#include <cstdint>

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

bool equalSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // No early exit: every byte is looked at, whatever differs first.
  unsigned char differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ |= static_cast<unsigned char>(a[i] ^ b[i]);
  return differ == 0;
}

std::string digestHa1(std::string_view user, std::string_view realm, std::string_view password) {
  std::string text;
  text.append(user).append(":").append(realm).append(":").append(password);
  return md5Hex(text);
}

}  // namespace funkhaus::net
