// The RTSP Digest hashes (RFC 2617) that funkhausd and funkhaus-net both compute — funkhausd turns
// the configured password into HA1 for the environment, funkhaus-net checks viewers' responses
// with it — and the random bytes and HMAC of funkhaus-net's nonces. OpenSSL on Linux
// (crypto_openssl.cpp), the system's BCrypt on Windows (crypto_windows.cpp). Any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace funkhaus::net {

// `n` bytes in lower-case hex.
std::string lowerHex(const uint8_t* data, size_t n);

// MD5 of `text` in lower-case hex (32 digits). Throws std::runtime_error when the library has no
// MD5.
std::string md5Hex(std::string_view text);

// `bytes` from the system's secure random source. Throws std::runtime_error when it fails.
void randomBytes(std::span<uint8_t> bytes);

// HMAC-SHA256 of `data` under `key`. Throws std::runtime_error when the library cannot.
std::array<uint8_t, 32> hmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

// Whether two secrets' texts are equal, in time that depends on their length only.
bool equalSecret(std::string_view a, std::string_view b);

// MD5(user:realm:password) in lower-case hex.
std::string digestHa1(std::string_view user, std::string_view realm, std::string_view password);

}  // namespace funkhaus::net
